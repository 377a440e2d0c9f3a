-- Inputs of gold-leadtime's delivery monitor: the orders open at {as_of}, with the stage each
-- has reached. Materialised once: the monitor reads them three times (its rows, and the item
-- and estimate copies it picks for them), and each read of status_first would aggregate the
-- statuses of every order again.
-- stage: the furthest reached of awaiting_approval (since purchase), awaiting_carrier (since
-- approval) and in_transit (since handed to the carrier); a carrier time without an approval
-- time (both exist in the data) is in transit, not awaiting approval.

CREATE TABLE open_orders AS
SELECT order_id,
       CASE
           WHEN delivered_carrier IS NOT NULL THEN 'in_transit'
           WHEN approved IS NOT NULL THEN 'awaiting_carrier'
           ELSE 'awaiting_approval'
       END AS stage,
       CASE
           WHEN delivered_carrier IS NOT NULL THEN delivered_carrier
           WHEN approved IS NOT NULL THEN approved
           ELSE purchase
       END AS stage_entered_at
FROM status_first
WHERE purchase IS NOT NULL AND delivered_customer IS NULL AND canceled_at IS NULL;

-- The monitor's segments are computed here from every delivered item of the category in this
-- run's silver snapshot (never from gold-bcg's tables, which it runs beside): no quarter is kept.
CREATE VIEW sale_stats_kept AS
SELECT period, product_id, category, seller_id, order_count, total_sales
FROM (SELECT period, product_id, category, seller_id,
             count(*) AS order_count, sum(total_price) AS total_sales
      FROM delivered_items GROUP BY period, product_id, category, seller_id)
WHERE FALSE;
