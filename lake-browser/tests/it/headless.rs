//! The pages in a real headless Chromium (written next).
