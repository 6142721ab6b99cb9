INSERT INTO "User" ("id", "email", "name") VALUES (1, 'alice@prisma.io', 'Alice; the first');
