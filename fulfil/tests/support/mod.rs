//! Helpers the Kafka tests share: reading a topic until enough arrived,
//! publishing with a plain client, and a tansu broker on loopback.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

/// Reads `topics` from the start until `enough` holds of what was read.
/// The deadline is a safety net, not a synchronisation: the loop ends as
/// soon as enough arrived.
pub async fn read_until(
    brokers: &str,
    topics: &[&str],
    enough: impl Fn(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let topic = topics.join(",");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-reader-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .set("fetch.message.max.bytes", "16777216")
        .create()
        .unwrap();
    // Assigned, not subscribed: no group to join, so reading starts at once.
    let mut partitions = rdkafka::TopicPartitionList::new();
    for t in topics {
        let metadata = consumer
            .fetch_metadata(Some(t), Duration::from_secs(10))
            .unwrap();
        for p in metadata.topics()[0].partitions() {
            partitions
                .add_partition_offset(t, p.id(), rdkafka::Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&partitions).unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    while !enough(&seen) {
        let m = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                let keys: Vec<String> = seen
                    .iter()
                    .map(|m: &OwnedMessage| {
                        String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned()
                    })
                    .collect();
                panic!("{topic}: only {} messages after 60 s: {keys:?}", seen.len())
            })
            .unwrap();
        seen.push(m.detach());
    }
    seen
}

pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "12000000")
        .create()
        .unwrap()
}

pub async fn publish(producer: &FutureProducer, topic: &str, key: Option<&str>, payload: &[u8]) {
    let mut record = FutureRecord::to(topic).payload(payload);
    if let Some(k) = key {
        record = record.key(k);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .unwrap_or_else(|(e, _)| panic!("{topic}: {e}"));
}

/// A tansu broker (Kafka protocol) on a free loopback port, stopped when
/// dropped: in memory, or in an `SQLite` file that outlives a restart.
pub struct Broker {
    pub brokers: String,
    child: Child,
    port: u16,
    /// The directory of its `SQLite` file, when it keeps one.
    keeps: Option<std::path::PathBuf>,
}

impl Broker {
    /// A broker keeping everything in memory.
    pub fn start() -> Self {
        Self::on(free_port(), None)
    }

    /// A broker keeping its topics in `dir/tansu.db`, so a restart keeps them.
    pub fn start_in(dir: &std::path::Path) -> Self {
        Self::on(free_port(), Some(dir.to_owned()))
    }

    /// Kills the broker (SIGKILL) and starts it again on the same port and file.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::on(self.port, self.keeps.clone());
    }

    fn on(port: u16, keeps: Option<std::path::PathBuf>) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let tansu = std::env::var("TANSU").unwrap_or_else(|_| "tansu".into());
        let mut command = Command::new(&tansu);
        command.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ]);
        match &keeps {
            // A relative path (the libsql feature), from the broker's directory.
            Some(dir) => command
                .current_dir(dir)
                .args(["--storage-engine", "sqlite://tansu.db"]),
            None => command.args(["--storage-engine", "memory://tansu/"]),
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{tansu}: {e}; install it with: cargo install tansu --version 0.6.0 --features dynostore,libsql (./scripts/test does)")
            });
        // It prints "ready" once it listens.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("ready") {
            line.clear();
            let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
            assert!(n > 0, "tansu exited before it was ready");
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Self {
            brokers: format!("127.0.0.1:{port}"),
            child,
            port,
            keeps,
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the broker process.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
