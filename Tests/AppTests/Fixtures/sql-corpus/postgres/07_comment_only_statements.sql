-- just a comment
;
;;
SELECT 1;
/* only a comment */;
