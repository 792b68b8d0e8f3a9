"""Questline: a gamification engine for mobile operators."""

__version__ = "0.1.0"
