-- Staging views shared by every transform job: the current state of each entity, rebuilt from
-- the bronze CDC copies.
--
-- * A copy wins when it is the latest by ingest_time; copies stamped the same millisecond are
--   ordered by Kafka partition and offset, so the choice never depends on read order. The
--   latest copy is the one whose next row, in (key, ingest_time, partition, offset) order, has
--   another key (`lead`); a null ingest_time sorts last, so such a copy wins. One window over
--   the sorted stream, no PARTITION BY: DataFusion evaluates a partitioned window one key at
--   a time (~2.5 µs per key), the same pick over one stream is a vectorised comparison.
-- * Rows whose key is null are landed in bronze as they came but cannot be placed: they are
--   left out here (silver's checks and counts report them).
-- * {known} limits what the job sees: `TRUE` for silver and gold-bcg (all of bronze);
--   for gold-leadtime's monitor, the rows ingested before its as-of time.
-- * {order_status_copies}, {payment_copies} ... (one per topic) are the copies a view reads:
--   `bronze.<topic>`, or in an interval run of silver-build `affected_<topic>`, the copies of
--   the keys it recomputes, which silver/affected.sql reads once into memory. Each view is
--   keyed by what those are filtered on, so a filtered view holds exactly the unfiltered
--   one's rows for those keys.

CREATE VIEW status_first AS
SELECT order_id,
       min(CASE WHEN status = 'purchase' THEN "timestamp" END) AS purchase,
       min(CASE WHEN status = 'approved' THEN "timestamp" END) AS approved,
       min(CASE WHEN status = 'delivered_carrier' THEN "timestamp" END) AS delivered_carrier,
       min(CASE WHEN status = 'delivered_customer' THEN "timestamp" END) AS delivered_customer,
       min(CASE WHEN status IN ('canceled', 'unavailable') THEN "timestamp" END) AS canceled_at
FROM {order_status_copies}
WHERE order_id IS NOT NULL AND "timestamp" IS NOT NULL AND {known}
GROUP BY order_id;

CREATE VIEW latest_payment AS
SELECT * FROM (
    SELECT *, lead(order_id) OVER w AS _next_0, lead(payment_sequential) OVER w AS _next_1
    FROM {payment_copies}
    WHERE order_id IS NOT NULL AND payment_sequential IS NOT NULL AND {known}
    WINDOW w AS (ORDER BY order_id, payment_sequential, ingest_time, _kafka_partition, _kafka_offset))
WHERE (order_id IS DISTINCT FROM _next_0) OR (payment_sequential IS DISTINCT FROM _next_1);

-- The customer of an order, from its payments (the orders file itself is not replayed).
CREATE VIEW order_customer AS
SELECT order_id, customer_id FROM (
    SELECT order_id, customer_id, lead(order_id) OVER w AS _next_order
    FROM latest_payment
    WHERE customer_id IS NOT NULL
    WINDOW w AS (ORDER BY order_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE order_id IS DISTINCT FROM _next_order;

CREATE VIEW latest_order_item AS
SELECT * FROM (
    SELECT *, lead(order_id) OVER w AS _next_0, lead(order_item_id) OVER w AS _next_1
    FROM {order_item_copies}
    WHERE order_id IS NOT NULL AND order_item_id IS NOT NULL AND {known}
    WINDOW w AS (ORDER BY order_id, order_item_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (order_id IS DISTINCT FROM _next_0) OR (order_item_id IS DISTINCT FROM _next_1);

CREATE VIEW latest_product AS
SELECT * FROM (
    SELECT *, lead(product_id) OVER w AS _next_0
    FROM {product_copies}
    WHERE product_id IS NOT NULL AND {known}
    WINDOW w AS (ORDER BY product_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (product_id IS DISTINCT FROM _next_0);

CREATE VIEW latest_seller AS
SELECT * FROM (
    SELECT *, lead(seller_id) OVER w AS _next_0
    FROM {seller_copies}
    WHERE seller_id IS NOT NULL AND {known}
    WINDOW w AS (ORDER BY seller_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (seller_id IS DISTINCT FROM _next_0);

CREATE VIEW latest_customer AS
SELECT * FROM (
    SELECT *, lead(customer_id) OVER w AS _next_0
    FROM {customer_copies}
    WHERE customer_id IS NOT NULL AND {known}
    WINDOW w AS (ORDER BY customer_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (customer_id IS DISTINCT FROM _next_0);

CREATE VIEW latest_geolocation AS
SELECT * FROM (
    SELECT *, lead(zip_code) OVER w AS _next_0
    FROM {geolocation_copies}
    WHERE zip_code IS NOT NULL AND {known}
    WINDOW w AS (ORDER BY zip_code, ingest_time, _kafka_partition, _kafka_offset))
WHERE (zip_code IS DISTINCT FROM _next_0);

CREATE VIEW latest_estimated_delivery AS
SELECT * FROM (
    SELECT *, lead(order_id) OVER w AS _next_0
    FROM {estimated_delivery_date_copies}
    WHERE order_id IS NOT NULL AND {known}
    WINDOW w AS (ORDER BY order_id, ingest_time, _kafka_partition, _kafka_offset))
WHERE (order_id IS DISTINCT FROM _next_0);
