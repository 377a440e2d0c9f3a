-- What a run for the interval [start, end) touches: keys of the bronze rows ingested in it
-- (materialised once: every model's scope reads them twice). Each model's `scope:` line maps
-- these keys to the rows, and so to the partitions, that the run recomputes.
-- {in_interval} is `ingest_time >= start AND ingest_time < end` (FALSE on a full refresh,
-- which rewrites everything); the scan prunes bronze's files by their ingest_time bounds
-- (and month partitions), so it reads only the files holding the interval's copies.
--
-- Order-scoped topics touch their order whatever the row says. Dimension topics repeat the
-- same copy on every purchase (CDC upserts), so a copy touches its key only when it is the
-- first one or changes a column the models use; an unchanged copy cannot change any output.
-- (Parenthesise each IS DISTINCT FROM: the SQL parser binds it looser than OR.)

CREATE TABLE touched_orders AS
SELECT order_id FROM bronze.order_status WHERE order_id IS NOT NULL AND {in_interval}
UNION SELECT order_id FROM bronze.payment WHERE order_id IS NOT NULL AND {in_interval}
UNION SELECT order_id FROM bronze.order_item WHERE order_id IS NOT NULL AND {in_interval}
UNION SELECT order_id FROM bronze.estimated_delivery_date WHERE order_id IS NOT NULL AND {in_interval}
UNION SELECT order_id FROM bronze.review WHERE order_id IS NOT NULL AND {in_interval};

CREATE TABLE touched_products AS
SELECT DISTINCT product_id FROM (
    SELECT product_id, ingest_time, category,
           lag(category) OVER w AS previous, row_number() OVER w AS nth
    FROM bronze.product
    WHERE product_id IN (SELECT product_id FROM bronze.product WHERE {in_interval})
    WINDOW w AS (PARTITION BY product_id ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE {in_interval} AND (nth = 1 OR (category IS DISTINCT FROM previous));

CREATE TABLE touched_sellers AS
SELECT DISTINCT seller_id FROM (
    SELECT seller_id, ingest_time, zip_code,
           lag(zip_code) OVER w AS previous, row_number() OVER w AS nth
    FROM bronze.seller
    WHERE seller_id IN (SELECT seller_id FROM bronze.seller WHERE {in_interval})
    WINDOW w AS (PARTITION BY seller_id ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE {in_interval} AND (nth = 1 OR (zip_code IS DISTINCT FROM previous));

CREATE TABLE touched_customers AS
SELECT DISTINCT customer_id FROM (
    SELECT customer_id, ingest_time, zip_code,
           lag(zip_code) OVER w AS previous, row_number() OVER w AS nth
    FROM bronze.customer
    WHERE customer_id IN (SELECT customer_id FROM bronze.customer WHERE {in_interval})
    WINDOW w AS (PARTITION BY customer_id ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE {in_interval} AND (nth = 1 OR (zip_code IS DISTINCT FROM previous));

CREATE TABLE touched_zips AS
SELECT DISTINCT zip_code FROM (
    SELECT zip_code, ingest_time, lat, lng, city, state,
           lag(lat) OVER w AS p_lat, lag(lng) OVER w AS p_lng,
           lag(city) OVER w AS p_city, lag(state) OVER w AS p_state,
           row_number() OVER w AS nth
    FROM bronze.geolocation
    WHERE zip_code IN (SELECT zip_code FROM bronze.geolocation WHERE {in_interval})
    WINDOW w AS (PARTITION BY zip_code ORDER BY ingest_time, _kafka_partition, _kafka_offset))
WHERE {in_interval}
  AND (nth = 1 OR (lat IS DISTINCT FROM p_lat) OR (lng IS DISTINCT FROM p_lng)
       OR (city IS DISTINCT FROM p_city) OR (state IS DISTINCT FROM p_state));
