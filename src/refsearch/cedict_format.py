"""What the CC-CEDICT tables hold, shared by the converter that writes them (cedict_convert.py) and
the reader that maps them (cedict.py), so that neither imports the other's code."""

TABLES_FORMAT = "refsearch/cedict-tables@1"
COMPUTING = "*"  # prefix of a sense CC-CEDICT labels "(computing)"
