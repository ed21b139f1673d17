"""bestand: existing-customer management (Bestandskundenmanagement) for B2B sales analysts."""
import warnings

# pandera imports pyspark.pandas whenever pyspark is installed (the Spark engine is optional), and
# pyspark warns on every import that it does not support pandas 3 yet. The kit uses no pandas-on-
# Spark API, so the warning would only be noise in every notebook and report.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

__version__ = "0.1.0"
