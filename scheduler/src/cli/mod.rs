pub mod generate;
pub mod parse;
