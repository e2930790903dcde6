//! The integration tests, one binary (one link, one harness): the real binary, the
//! daemon in-process, passes against wiremock and the built-in simulator.
#![allow(dead_code)]

mod harness;

mod cli;
mod daemon;
mod day;
mod evidence;
mod faults;
mod gates;
mod health;
mod monitoring;
mod pass;
mod picture;
mod properties;
mod secrets;
mod state;
mod why;
mod world;
