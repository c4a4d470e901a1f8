"""A Streamlit app whose script raises on its first run; the server itself starts fine."""
import streamlit as st

st.title("azdeploy sample: broken on first run")

# Not in requirements.txt: ModuleNotFoundError when the first session runs this script,
# long after /_stcore/health has answered 200.
import azdeploy_module_that_is_not_installed  # noqa: E402,F401

st.text("never reached")
