"""Dataset files (IDX, checksums, download, --from) -> tensors -> batches; augmentation."""
