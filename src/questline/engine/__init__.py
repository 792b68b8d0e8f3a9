"""The gamification engine: progress, streaks, badges and leaderboards, computed per batch."""
