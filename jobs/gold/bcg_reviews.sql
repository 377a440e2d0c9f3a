-- The review copies gold.review_metadata_product picks among: those of the orders holding an
-- item of the BCG category, the delivered_order_product_bcg model's orders (its items of the
-- periods the run recomputes, and those it keeps). Materialised before the model sorts them:
-- filtered inside the model, the filter would come after the sort (DataFusion pushes a
-- window's sort below a semi-join, as the join keeps its input's order), and every review
-- copy would be sorted. A whole order's copies are kept or left out together, so the latest
-- copy of each kept review is the same. The comments are not read: no model uses them.

CREATE TABLE category_review_copies AS
SELECT review_id, order_id, review_score, review_creation_date, review_answer_timestamp,
       ingest_time, _kafka_partition, _kafka_offset
FROM bronze.review
WHERE review_id IS NOT NULL AND order_id IS NOT NULL AND {known}
  AND order_id IN (SELECT order_id FROM delivered_items WHERE category = {category}
                   UNION ALL
                   SELECT order_id FROM bcg_items_kept);
