CREATE INDEX IF NOT EXISTS users_mood ON users (mood);
