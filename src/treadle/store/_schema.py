"""The shared ``MetaData`` every capability's tables hang on."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit autoincrement key that is SQLite's rowid there (SQLite only autoincrements INTEGER).
pk_bigint = BigInteger().with_variant(Integer(), "sqlite")
