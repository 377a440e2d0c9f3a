-- Figures gold-leadtime adds to its run summary (and pushes as metrics). Each statement is one
-- figure group: a one-row result gives one figure per column; a result whose first column is a
-- label gives one object per label. {delivered_in_interval} selects the deliveries of the
-- run's interval (all of them on a full refresh).

-- name: monitor
SELECT count(*) AS open_orders,
       coalesce(sum(CASE WHEN days_overdue > 0 THEN 1 ELSE 0 END), 0) AS overdue_orders,
       max(as_of) AS as_of
FROM delivery_monitor;

-- name: open_by_stage
SELECT stage, count(*) AS orders,
       coalesce(sum(CASE WHEN days_overdue > 0 THEN 1 ELSE 0 END), 0) AS overdue
FROM delivery_monitor GROUP BY stage ORDER BY stage;

-- name: overdue_by_days
SELECT CASE
           WHEN days_overdue <= 3 THEN '1-3'
           WHEN days_overdue <= 7 THEN '4-7'
           WHEN days_overdue <= 14 THEN '8-14'
           WHEN days_overdue <= 30 THEN '15-30'
           ELSE '31+'
       END AS days_overdue,
       count(*) AS orders
FROM delivery_monitor WHERE days_overdue > 0 GROUP BY 1;

-- name: deliveries
WITH deliveries AS (
    SELECT DISTINCT order_id, is_late_delivery FROM timestamp_stats_wide
    WHERE {delivered_in_interval}
)
SELECT count(*) AS delivered_orders,
       coalesce(sum(CASE WHEN is_late_delivery THEN 1 ELSE 0 END), 0) AS late_orders,
       CAST(sum(CASE WHEN is_late_delivery THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS late_share
FROM deliveries;

-- name: lead_time_hours
WITH deliveries AS (
    SELECT DISTINCT order_id,
           CAST(lead_time_approve_hours AS DOUBLE) AS approve,
           CAST(lead_time_carrier_hours AS DOUBLE) AS carrier,
           CAST(lead_time_customer_hours AS DOUBLE) AS customer,
           CAST(total_delivery_hours AS DOUBLE) AS total
    FROM timestamp_stats_wide
    WHERE {delivered_in_interval}
)
SELECT 'approve' AS stage,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY approve) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY approve) AS p90
FROM deliveries
UNION ALL
SELECT 'carrier', percentile_cont(0.5) WITHIN GROUP (ORDER BY carrier),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY carrier) FROM deliveries
UNION ALL
SELECT 'customer', percentile_cont(0.5) WITHIN GROUP (ORDER BY customer),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY customer) FROM deliveries
UNION ALL
SELECT 'total', percentile_cont(0.5) WITHIN GROUP (ORDER BY total),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY total) FROM deliveries;

-- name: overdue_by_category
SELECT coalesce(category, 'unknown') AS category, count(*) AS orders
FROM delivery_monitor WHERE days_overdue > 0 GROUP BY 1 ORDER BY 1;
