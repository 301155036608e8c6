use super::*;

const GOOD: &str = r#"
scenario = "http"
url = "http://127.0.0.1:8080/"
thresholds = ["p95<500ms", "errors<1%"]

[options]
connections = 64
header = ["X-A: 1", "X-B: 2"]
linger_zero = true
latency = false

[[stage]]
name = "warm"
duration = "10s"
rate = 100

[[stage]]
name = "ramp"
duration = "20s"
rate = { from = 100, to = 200 }

[[stage]]
duration = "40s"
rate = { from = 200, to = 1000, steps = 5 }

[[stage]]
name = "spike"
duration = "30s"
rate = { from = 100, to = 1000, rise = "10s" }
thresholds = ["status_429>10%"]
"#;

#[test]
fn a_plan_parses_into_stages_and_a_command_line() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.drive, Drive::Rate);
    assert_eq!(p.stages.len(), 4);
    assert_eq!(p.stages[2].name, "stage-3");
    assert_eq!(p.stages[2].shape, Shape::Step(5));
    assert_eq!(p.stages[3].shape, Shape::Spike { rise: Duration::from_secs(10) });
    assert_eq!(p.stages[3].thresholds.len(), 1);
    assert_eq!(p.thresholds.len(), 2);
    assert_eq!(
        p.argv(),
        ["http", "http://127.0.0.1:8080/", "--connections", "64", "--header", "X-A: 1", "--header", "X-B: 2", "--linger-zero"]
    );
    let s = p.staged();
    assert_eq!(s.total(), Duration::from_secs(100));
    assert_eq!(s.bounds[1], ("ramp".to_string(), 10_000_000_000, 30_000_000_000));
    assert_eq!(s.stage_at(29_999_999_999), 1);
    assert_eq!(s.stage_at(30_000_000_000), 2);
    assert_eq!(s.shapes[1], "ramp rate 100 -> 200/s");
    // the rate at instants of each stage
    let at = |secs: f64| s.profile.level_at((secs * 1e9) as u64);
    assert_eq!(at(5.0), 100.0);
    assert_eq!(at(20.0), 150.0);
    assert_eq!(at(31.0), 200.0);
    assert_eq!(at(69.0), 1000.0);
    assert_eq!(at(75.0), 550.0, "spike half-way up its 10 s rise");
    assert_eq!(at(85.0), 1000.0);
    // a share of 4 carries a quarter of the rate
    assert_eq!(s.share(4).profile.level_at(20_000_000_000), 37.5);
}

#[test]
fn plan_errors_name_the_line_and_the_field() {
    let cases: &[(&str, &str)] = &[
        ("scenario = \"ftp\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = 1\n", "line 1: scenario"),
        ("scenario = \"http\"\nurl = \"x\"\n", "no [[stage]]"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"soon\"\nrate = 1\n", "line 4: stage 1 (unnamed).duration"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\n", "give one of rate"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = 1\nconnections = 2\n", "only one of"),
        (
            "scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = 1\n[[stage]]\nname = \"b\"\nduration = \"1s\"\nconnections = 2\n",
            "line 9: stage 2 (b).connections: every stage must drive the same thing",
        ),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = { to = 5, steps = 0 }\n", "line 5: stage 1 (unnamed).rate: steps"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = { from = 5 }\n", "missing 'to'"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = { to = 5, rise = \"2s\" }\n", "longer than the stage"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = -3\n", ">= 0"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nconnections = 2.5\n", "whole number"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nstreams = 2\n", "streams are for"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduraton = \"1s\"\nrate = 1\n", "line 4: unknown field `duraton`"),
        ("scenario = \"http\"\nurl = \"x\"\n[options]\nrate = 5\n[[stage]]\nduration = \"1s\"\nrate = 1\n", "line 4: options.rate"),
        ("scenario = \"http\"\nurl = \"x\"\nthresholds = [\"p99<<1\"]\n[[stage]]\nduration = \"1s\"\nrate = 1\n", "line 3: thresholds"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]]\nduration = \"1s\"\nrate = 0\n", "nothing would be sent"),
        ("scenario = \"http\"\nurl = \"x\"\n[[stage]\n", "line 3"),
    ];
    for (text, want) in cases {
        let e = parse(text).unwrap_err();
        assert!(e.contains(want), "{text:?}\n  gave: {e}\n  want: {want}");
    }
}

#[test]
fn every_preset_is_a_valid_plan() {
    for name in PRESETS {
        let text = with_limit(&preset(name, "http", "http://127.0.0.1:8080/").unwrap(), 200.0);
        let p = parse(&text).unwrap_or_else(|e| panic!("preset {name}: {e}\n{text}"));
        assert!(!p.stages.is_empty(), "{name}");
    }
    let t = parse(&with_limit(&preset("throttle", "http", "http://h/").unwrap(), 200.0)).unwrap();
    let over = t.stages.iter().find(|s| s.name == "over-limit").unwrap();
    assert_eq!(over.to, 300.0, "150 % of the limit");
    assert!(preset("nope", "http", "x").unwrap_err().contains("smoke"));
}
