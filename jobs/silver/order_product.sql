-- table: silver.order_product
-- One row per item of a delivered order (an order with a delivered_customer event), with the
-- product's latest category and total_price = price + freight_value.
-- scope: order_id IN (SELECT order_id FROM affected_orders)
-- scope within: {affected_delivery_months}
-- check error not_null: order_id, order_item_id
-- check error unique: order_id, order_item_id
-- check error references: order_id -> order_timestamp(order_id)
-- check error expect: total_price = price + freight_value
-- check warn not_null: product_id, seller_id, category, price, freight_value
-- check warn expect: price > 0
-- check warn expect: freight_value >= 0
SELECT i.order_id,
       i.order_item_id,
       i.product_id,
       p.category,
       i.seller_id,
       i.shipping_limit_date,
       i.price,
       i.freight_value,
       i.price + i.freight_value AS total_price,
       o.delivered_customer
FROM latest_order_item i
JOIN order_timestamp o ON o.order_id = i.order_id
LEFT JOIN latest_product p ON p.product_id = i.product_id
WHERE o.delivered_customer IS NOT NULL
