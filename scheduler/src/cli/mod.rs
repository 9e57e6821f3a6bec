pub mod common;
pub mod deliveries;
pub mod generate;
pub mod import;
pub mod jobs;
pub mod parse;
pub mod run;
pub mod status;
