PRAGMA foreign_keys = ON;
VACUUM;
