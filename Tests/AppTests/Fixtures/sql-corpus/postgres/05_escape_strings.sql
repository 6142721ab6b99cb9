SELECT E'it\'s; escaped', E'back\\slash;';
SELECT 'plain\';
SELECT e'\';';
