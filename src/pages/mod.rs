//! Page models several route modules share, so that route modules use these and not each other.

pub mod paging;
