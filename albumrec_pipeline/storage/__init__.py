"""Where albumrec keeps what its assets produce: Parquet tables, with native model files beside them."""
