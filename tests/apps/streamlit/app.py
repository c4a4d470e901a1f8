"""A small real Streamlit app: pandas does the work, Streamlit renders it."""
import os
import platform
import time

import pandas as pd
import streamlit as st

st.set_page_config(page_title="azdeploy sample", layout="wide")
st.title("azdeploy sample: Streamlit + pandas")

# A week of made-up readings, aggregated with pandas.
days = pd.date_range("2024-01-01", periods=7, freq="D")
df = pd.DataFrame(
    {"day": days, "visits": [120, 135, 160, 150, 190, 240, 210], "signups": [4, 6, 9, 7, 11, 15, 12]}
).set_index("day")
df["conversion %"] = (df["signups"] / df["visits"] * 100).round(2)
summary = df.agg(["sum", "mean", "max"]).round(1)

left, right = st.columns(2)
left.metric("visits this week", int(df["visits"].sum()), int(df["visits"].iloc[-1] - df["visits"].iloc[0]))
right.metric("best conversion", f"{df['conversion %'].max():.2f} %")
st.line_chart(df[["visits", "signups"]])
st.dataframe(df)
st.dataframe(summary)
# What the container really runs on: tells an emulated arm64 image from a native amd64 one.
st.caption(f"pandas {pd.__version__}, streamlit {st.__version__}, Python {platform.python_version()} on {platform.machine()}")
st.text("AZDEPLOY-SAMPLE-RENDERED")


# A memory-hungry app on demand (tests size Azure's memory from the local peak): written bytes,
# so they count in the container's memory, kept by Streamlit's resource cache past the run.
@st.cache_resource
def ballast(mb: int) -> bytes:
    return b"x" * (mb << 20)


ballast(int(os.environ.get("AZDEPLOY_SAMPLE_ALLOCATE_MB", "0")))

# A first run that does not end, on demand (tests the report of a script that blocks).
time.sleep(float(os.environ.get("AZDEPLOY_SAMPLE_BLOCK_S", "0")))
