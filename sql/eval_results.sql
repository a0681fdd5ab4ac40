-- eval_results.sql — the latest evaluations: mIoU of the model next to its baselines (percent).
SELECT e.created_at, e.dataset, e.ckpt, e.method,
       printf('%.2f', 100 * e.miou) AS miou, printf('%.2f', 100 * e.pixel_acc) AS pixel_acc,
       e.images, e.skipped
FROM eval_results e
ORDER BY e.id DESC
LIMIT 20;
