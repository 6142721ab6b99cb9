-- only
;
;
SELECT 1;
