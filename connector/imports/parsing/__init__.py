"""Reading a CSV row into values: headers to fields, cells to typed values, rows to claims.

Pure (no I/O, no clock): ``headers`` maps a file's columns to fields and tells the file's kind; ``values``
parses one cell (e-mail, phone, date, amount…); ``rows`` turns a row into a contact with its claims (a
consent, a withdrawal, a relationship); ``columns`` reads many rows column-wise for speed; ``cells`` makes
exported cells formula-safe and undoes it on re-import.
"""
