-- Each department's record per period: targets it leads, how many on schedule, and the share.
-- Narrow it to one department with: WHERE department_name = '市住房城乡建设局'
SELECT publisher, department_name, period_key, targets_led, led_on_schedule, share_on_schedule, targets_involved
FROM v_department_scorecard
WHERE targets_led > 0
ORDER BY publisher, department_name, period_key;
