-- comment; here
SELECT 1; -- trailing;
/* block; */ SELECT 2;
