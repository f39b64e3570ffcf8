//! One integration-test binary (faster builds): the real service against a real nats-server,
//! the embedded queue, a temporary sled directory and a simulated Jira Cloud.

mod support;

mod admin_api;
mod architecture;
mod atlassian;
mod attacks;
mod bad_input;
mod chart;
mod connectors;
mod console;
mod console_access;
mod console_edges;
mod console_inactive;
mod console_numbers;
mod console_policies;
mod console_scale;
mod console_schedules;
mod console_screens;
mod contract;
mod crash;
mod decisions;
mod disk;
mod faults;
mod fuzz_cases;
mod hard_edges;
mod idp;
mod inventory;
mod jsm;
mod links;
mod login_receiver;
mod mail;
mod operations;
mod portal;
mod reclaim;
mod requests;
mod restore;
mod sandbox_cli;
mod schemas;
mod sessions;
mod shutdown;
mod slack;
mod slack_forms;
mod teams;
mod topology;
