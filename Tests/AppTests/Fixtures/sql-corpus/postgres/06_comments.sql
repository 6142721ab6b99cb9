-- leading comment; with semicolon
SELECT 1; -- trailing; comment
/* block; comment */ SELECT 2;
/* nested /* inner; */ still; comment */ SELECT 3;
