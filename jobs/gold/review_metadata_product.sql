-- table: gold.review_metadata_product
-- Reviews of the delivered orders of the BCG category, per product of the order:
-- answer_lead_hours = review_answer_timestamp - review_creation_date in hours.
-- scope: order_id IN (SELECT order_id FROM touched_orders)
-- scope: product_id IN (SELECT product_id FROM touched_products)
-- check error not_null: order_id, product_id, review_id
-- check error unique: order_id, product_id, review_id
-- check warn accepted: review_score IN (1, 2, 3, 4, 5)
-- check warn expect: answer_lead_hours >= 0
-- The latest copy of each review of those orders is picked as staging.sql picks a latest copy
-- (the last in (key, ingest_time, partition, offset) order), among the category's orders'
-- copies only (`category_review_copies`, gold/bcg_reviews.sql): a tenth of the reviews.
WITH orders AS (
    SELECT DISTINCT order_id, product_id FROM delivered_order_product_bcg
),
latest_review AS (
    SELECT * FROM (
        SELECT *, lead(review_id) OVER w AS _next_0, lead(order_id) OVER w AS _next_1
        FROM category_review_copies
        WINDOW w AS (ORDER BY review_id, order_id, ingest_time, _kafka_partition, _kafka_offset))
    WHERE (review_id IS DISTINCT FROM _next_0) OR (order_id IS DISTINCT FROM _next_1)
)
SELECT o.order_id,
       o.product_id,
       r.review_id,
       r.review_score,
       r.review_creation_date,
       r.review_answer_timestamp,
       hours_between(r.review_answer_timestamp, r.review_creation_date) AS answer_lead_hours
FROM orders o
JOIN latest_review r ON r.order_id = o.order_id
