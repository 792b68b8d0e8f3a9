"""Small shared infrastructure with no business words: settings-free helpers for db, lake, errors, time."""
