"""Synthetic demo content for `manage.py seed_hpb`: scenarios, pure plans, rendering and writing.

- `scenarios`: the clinical wording of eight fictional HPB scenarios;
- `plan`: (seed, index) -> a frozen CasePlan, pure and deterministic;
- `render`: a document plan -> text, CSV or PDF bytes;
- `apply`: a plan -> rows and stored files, idempotently;
- `demo_user`: the demo curator account.
"""
