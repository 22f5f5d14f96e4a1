//! CRM edges: the Pipedrive client (reqwest, rate limits, cursors) and the parsing of its records
//! and webhook bodies into rally's CRM records. Implements `app::crm::CrmSource`; imports `app` and
//! `domain`, never `store`.

pub mod pipedrive;
pub mod poller;
