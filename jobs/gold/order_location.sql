-- table: gold.order_location
-- Where the BCG category's products go and come from: the customers who received them and
-- the sellers who sent them, with coordinates, per product and overall (ALL) segment.
-- Users without coordinates are not in silver.user_location and so not here.
-- scope: EXISTS (SELECT 1 FROM touched_periods)
-- scope: EXISTS (SELECT 1 FROM touched_customers)
-- scope: EXISTS (SELECT 1 FROM touched_sellers)
-- scope: EXISTS (SELECT 1 FROM touched_zips)
-- check error not_null: product_id, user_id, user_type, lat, lng
-- check error unique: product_id, segment, user_type, user_id
-- check error accepted: user_type IN ('customer', 'seller')
WITH sold AS (
    SELECT DISTINCT d.product_id, d.category, d.segment_all AS segment, d.seller_id, o.customer_id
    FROM delivered_order_product_bcg d
    JOIN silver.order_timestamp o ON o.order_id = d.order_id
),
-- Each sale's two users, from one pass over `sold` (a CTE is computed once per reference:
-- naming it in two branches joined silver.order_timestamp twice).
users AS (
    SELECT s.product_id, s.category, s.segment, k.user_type,
           CASE WHEN k.user_type = 'customer' THEN s.customer_id ELSE s.seller_id END AS user_id
    FROM sold s CROSS JOIN (VALUES ('customer'), ('seller')) AS k(user_type)
)
SELECT DISTINCT s.product_id, s.category, s.segment, u.user_id, u.user_type, u.zip_code,
       u.lat, u.lng, u.city, u.state
FROM users s
JOIN silver.user_location u ON u.user_type = s.user_type AND u.user_id = s.user_id
