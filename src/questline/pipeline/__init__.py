"""The running system: the stages wired together (`questline run`)."""
