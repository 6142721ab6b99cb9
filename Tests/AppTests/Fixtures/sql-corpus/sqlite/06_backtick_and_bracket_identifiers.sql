CREATE TABLE `we;ird` ([col;1] INTEGER, "q;" TEXT);
SELECT [col;1], `we;ird`."q;" FROM `we;ird`;
