//! The embedded engine's optimiser rules for Security Lake's data: `nested_prune` reads only the
//! leaves of nested OCSF columns a query touches, `text_groups` groups by one text column through
//! a cache of where each value lives, `text_in` compares text with literals by string view. Each
//! gives `DataFusion`'s own answers (the tests compare them with the rule on and off).

pub mod nested_prune;
pub mod text_groups;
pub mod text_in;
