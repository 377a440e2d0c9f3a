-- table: silver.user_location
-- Customers and sellers with the coordinates of their zip prefix (latest copies). Users whose
-- zip has no geolocation are left out and counted (_drop_reason).
-- scope: user_type = 'customer' AND user_id IN (SELECT customer_id FROM affected_customers)
-- scope: user_type = 'seller' AND user_id IN (SELECT seller_id FROM affected_sellers)
-- check error not_null: user_id, user_type, lat, lng
-- check error unique: user_type, user_id
-- check error accepted: user_type IN ('customer', 'seller')
-- check warn expect: lat BETWEEN -33.75 AND 5.3 AND lng BETWEEN -74.0 AND -34.8
WITH users AS (
    SELECT customer_id AS user_id, 'customer' AS user_type, zip_code FROM latest_customer
    UNION ALL
    SELECT seller_id AS user_id, 'seller' AS user_type, zip_code FROM latest_seller
)
SELECT u.user_id,
       u.user_type,
       u.zip_code,
       g.lat,
       g.lng,
       g.city,
       g.state,
       CASE WHEN g.zip_code IS NULL THEN 'zip without geolocation' END AS _drop_reason
FROM users u
LEFT JOIN latest_geolocation g ON g.zip_code = u.zip_code
