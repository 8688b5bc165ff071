pub mod group_check;
