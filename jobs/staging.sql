-- Staging views shared by every transform job: the current state of each entity, rebuilt from
-- the bronze CDC copies.
--
-- * A copy wins when it is the latest by ingest_time; copies stamped the same millisecond are
--   ordered by Kafka partition and offset, so the choice never depends on read order.
-- * Rows whose key is null are landed in bronze as they came but cannot be placed: they are
--   left out here (silver's checks and counts report them).
-- * {known} limits what the job sees: `TRUE` for silver and gold-bcg (all of bronze);
--   for gold-leadtime's monitor, the rows ingested before its as-of time.
-- * {for_orders}, {for_products}, {for_sellers}, {for_customers}, {for_zips} limit a view to
--   the keys an interval run of silver-build recomputes (`silver/affected.sql`); `TRUE`
--   otherwise. Each view is keyed by what it filters on, so a filtered view holds exactly
--   the unfiltered one's rows for those keys.

CREATE VIEW status_first AS
SELECT order_id,
       min(CASE WHEN status = 'purchase' THEN "timestamp" END) AS purchase,
       min(CASE WHEN status = 'approved' THEN "timestamp" END) AS approved,
       min(CASE WHEN status = 'delivered_carrier' THEN "timestamp" END) AS delivered_carrier,
       min(CASE WHEN status = 'delivered_customer' THEN "timestamp" END) AS delivered_customer,
       min(CASE WHEN status IN ('canceled', 'unavailable') THEN "timestamp" END) AS canceled_at
FROM bronze.order_status
WHERE order_id IS NOT NULL AND "timestamp" IS NOT NULL AND {known} AND {for_orders}
GROUP BY order_id;

CREATE VIEW latest_payment AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY order_id, payment_sequential
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.payment
    WHERE order_id IS NOT NULL AND payment_sequential IS NOT NULL AND {known} AND {for_orders})
WHERE _copy = 1;

-- The customer of an order, from its payments (the orders file itself is not replayed).
CREATE VIEW order_customer AS
SELECT order_id, customer_id FROM (
    SELECT order_id, customer_id, row_number() OVER (
        PARTITION BY order_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _pick
    FROM latest_payment
    WHERE customer_id IS NOT NULL)
WHERE _pick = 1;

CREATE VIEW latest_order_item AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY order_id, order_item_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.order_item
    WHERE order_id IS NOT NULL AND order_item_id IS NOT NULL AND {known} AND {for_orders})
WHERE _copy = 1;

CREATE VIEW latest_product AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY product_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.product
    WHERE product_id IS NOT NULL AND {known} AND {for_products})
WHERE _copy = 1;

CREATE VIEW latest_seller AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY seller_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.seller
    WHERE seller_id IS NOT NULL AND {known} AND {for_sellers})
WHERE _copy = 1;

CREATE VIEW latest_customer AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY customer_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.customer
    WHERE customer_id IS NOT NULL AND {known} AND {for_customers})
WHERE _copy = 1;

CREATE VIEW latest_geolocation AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY zip_code
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.geolocation
    WHERE zip_code IS NOT NULL AND {known} AND {for_zips})
WHERE _copy = 1;

CREATE VIEW latest_estimated_delivery AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY order_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.estimated_delivery_date
    WHERE order_id IS NOT NULL AND {known} AND {for_orders})
WHERE _copy = 1;

CREATE VIEW latest_review AS
SELECT * FROM (
    SELECT *, row_number() OVER (
        PARTITION BY review_id, order_id
        ORDER BY ingest_time DESC, _kafka_partition DESC, _kafka_offset DESC) AS _copy
    FROM bronze.review
    WHERE review_id IS NOT NULL AND order_id IS NOT NULL AND {known} AND {for_orders})
WHERE _copy = 1;
