-- comment = "One row per edit of a target's text: the version before and the version it opened."
--
-- [columns]
-- previous_version = "The version before the edit."
-- previous_text = "Its text."
-- previous_from_period = "The period it took effect."
-- target_text = "The new version's text."
-- valid_from_period = "The period the new version took effect."

SELECT n.publisher, n.plan_year, n.target_no,
       o.version AS previous_version, o.target_text AS previous_text, o.valid_from_period AS previous_from_period,
       n.version, n.target_text, n.valid_from_period
FROM dim_target n
JOIN dim_target o ON o.publisher = n.publisher AND o.plan_year = n.plan_year AND o.target_no = n.target_no
                 AND o.version = n.version - 1;
