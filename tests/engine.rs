//! The generator engine a user trusts with a codebase: destroy reverses
//! generate byte for byte, template overrides, strict manifests, controller
//! generation, routes filters, CLI manners.

mod common;

use common::{maze, new_app, stderr, stdout, tree};

/// Every generator, in several name forms: generate then destroy leaves the tree as it was.
#[test]
fn generate_then_destroy_is_byte_identical() {
    let cases: &[&[&str]] = &[
        &["socket", "ChatSocket", "chat_room", "lobby"],
        &["socket", "Chat"],
        &["socket", "chat_socket", "--path", "/live/chat"],
        &["socket", "HTTPSocket", "RoomChannel"],
        &["channel", "Lobby"],
        &["channel", "lobby_channel", "--topic", "lobby"],
        &["controller", "Posts", "index", "show"],
        &["controller", "admin_users"],
    ];
    for case in cases {
        let (_dir, root) = new_app();
        let before = tree(&root);
        maze(&root).arg("g").args(*case).assert().success();
        assert_ne!(tree(&root), before, "{case:?} generated nothing");
        let output = maze(&root).arg("d").args(*case).output().unwrap();
        assert!(output.status.success(), "{case:?}: {}", stderr(&output));
        assert_eq!(tree(&root), before, "maze d {case:?} left the tree changed:\n{}", stdout(&output));
    }
}

#[test]
fn destroying_a_channel_of_a_socket_keeps_the_socket_and_its_settings() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "Chat", "room"]).assert().success();
    let with_socket = tree(&root);
    maze(&root).args(["g", "channel", "Lobby"]).assert().success();
    let output = maze(&root).args(["d", "channel", "Lobby"]).output().unwrap();
    let out = stdout(&output);
    assert!(out.contains("remove src/channels/lobby_channel.rs"), "{out}");
    assert!(out.contains("subtract src/sockets/chat_socket.rs"), "{out}");
    assert_eq!(tree(&root), with_socket);

    // A second socket's destroy leaves the shared Cargo.toml feature and [websockets] table.
    maze(&root).args(["g", "socket", "Admin"]).assert().success();
    maze(&root).args(["d", "socket", "Admin"]).assert().success();
    assert_eq!(tree(&root), with_socket);
}

#[test]
fn destroy_refuses_an_edited_file_unless_forced() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "Chat"]).assert().success();
    let socket = root.join("src/sockets/chat_socket.rs");
    let edited = std::fs::read_to_string(&socket).unwrap().replace("true", "false");
    std::fs::write(&socket, &edited).unwrap();
    let before = tree(&root);

    let output = maze(&root).args(["d", "socket", "Chat", "--dry-run"]).output().unwrap();
    assert!(stdout(&output).contains("conflict src/sockets/chat_socket.rs"));
    assert_eq!(tree(&root), before);

    let output = maze(&root).args(["d", "socket", "Chat"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("conflict src/sockets/chat_socket.rs"));
    assert_eq!(tree(&root), before, "nothing removed");

    let output = maze(&root).args(["d", "socket", "Chat", "--dry-run", "--force"]).output().unwrap();
    assert!(stdout(&output).contains("force src/sockets/chat_socket.rs"));
    assert_eq!(tree(&root), before, "a dry run removes nothing");

    maze(&root).args(["d", "socket", "Chat", "--force"]).assert().success();
    assert!(!socket.exists());
    assert!(!std::fs::read_to_string(root.join("src/routes.rs")).unwrap().contains("ChatSocket"));
}

#[test]
fn template_overrides_replace_built_ins_one_by_one() {
    let (_dir, root) = new_app();
    let output = maze(&root).args(["templates", "eject", "socket"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let ejected = root.join(".maze/templates/socket/src/sockets/{{ socket_file }}.rs.tera");
    assert!(ejected.is_file());
    assert!(root.join(".maze/templates/socket/generator.toml").is_file());
    // Ejecting again changes nothing; an edited override is never clobbered.
    let again = maze(&root).args(["templates", "eject", "socket"]).output().unwrap();
    assert!(stdout(&again).contains("identical"));

    // The [websockets] table `g socket` adds lives in the manifest, so an override reaches it.
    let manifest = root.join(".maze/templates/socket/generator.toml");
    let quicker =
        std::fs::read_to_string(&manifest).unwrap().replace("ping_interval = 30", "ping_interval = 5");
    std::fs::write(&manifest, quicker).unwrap();

    let custom = std::fs::read_to_string(&ejected).unwrap().replace("One value lives", "Customized here.");
    std::fs::write(&ejected, &custom).unwrap();
    let clobber = maze(&root).args(["templates", "eject", "socket"]).output().unwrap();
    assert_eq!(clobber.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&ejected).unwrap(), custom);

    let list = stdout(&maze(&root).args(["templates", "list"]).output().unwrap());
    assert!(
        list.contains("overridden by .maze/templates/socket/src/sockets/{{ socket_file }}.rs.tera"),
        "{list}"
    );
    assert!(list.contains("channel: A channel"), "{list}");

    maze(&root).args(["g", "socket", "Chat"]).assert().success();
    let socket = std::fs::read_to_string(root.join("src/sockets/chat_socket.rs")).unwrap();
    assert!(socket.contains("Customized here."), "{socket}");
    let settings = std::fs::read_to_string(root.join("maze.toml")).unwrap();
    assert!(settings.contains("[websockets]") && settings.contains("ping_interval = 5\n"), "{settings}");
    assert!(
        !std::fs::read_to_string(root.join("src/channels/chat_channel.rs")).unwrap().contains("Customized")
    );
}

#[test]
fn a_broken_override_names_the_file_and_line_and_writes_nothing() {
    let (_dir, root) = new_app();
    let dir = root.join(".maze/templates/channel/src/channels");
    std::fs::create_dir_all(&dir).unwrap();
    let override_file = dir.join("{{ channel_file }}.rs.tera");
    for (text, expected) in [
        ("pub struct {{ channel_type }};\n{% if %}\n", "syntax error"),
        ("pub struct {{ channel_type }};\n\nfn x() {{ chanel_type }}\n", "line 3"),
    ] {
        std::fs::write(&override_file, text).unwrap();
        let before = tree(&root);
        let output = maze(&root).args(["g", "channel", "Lobby"]).output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        let error = stderr(&output);
        assert!(error.contains(".maze/templates/channel/src/channels/{{ channel_file }}.rs.tera"), "{error}");
        assert!(error.contains(expected), "{error}");
        assert_eq!(tree(&root), before);
    }

    std::fs::remove_file(&override_file).unwrap();
    std::fs::write(dir.join("extra.rs.tera"), "x").unwrap();
    let error = stderr(&maze(&root).args(["g", "channel", "Lobby"]).output().unwrap());
    assert!(error.contains("overrides no built-in template"), "{error}");
}

#[test]
fn manifests_are_parsed_strictly() {
    let (_dir, root) = new_app();
    let dir = root.join(".maze/templates/controller");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("generator.toml"), "description = \"x\"\n[[inject]]\nfile = \"a.rs\"\nmarker = \"// m\"\nlines = \"x\"\nwhen_set = \"y\"\n").unwrap();
    let output = maze(&root).args(["g", "controller", "Posts"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains(".maze/templates/controller/generator.toml") && error.contains("when_set"),
        "{error}"
    );
}

#[test]
fn controllers_get_a_route_per_action() {
    let (_dir, root) = new_app();
    let output = maze(&root).args(["g", "controller", "Posts", "index", "show"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let routes = std::fs::read_to_string(root.join("src/routes.rs")).unwrap();
    assert!(routes.contains(r#"routes.get("/posts", controllers::posts::index);"#), "{routes}");
    assert!(routes.contains(r#"routes.get("/posts/show", controllers::posts::show);"#), "{routes}");
    let listed = stdout(&maze(&root).args(["routes", "-g", "posts"]).output().unwrap());
    assert_eq!(listed.lines().count(), 3, "header and two routes: {listed}");
    for bad in [
        &["g", "controller", "Posts", "fn"][..],
        &["g", "controller", "Posts", "a", "a"],
        &["g", "controller", "1x"],
    ] {
        assert_eq!(maze(&root).args(bad).output().unwrap().status.code(), Some(1), "{bad:?}");
    }
}

#[test]
fn routes_filters() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "Chat", "room"]).assert().success();
    let sockets = stdout(&maze(&root).args(["routes", "--sockets"]).output().unwrap());
    assert!(sockets.contains("/chat") && !sockets.contains("controllers::home"), "{sockets}");
    let json: serde_json::Value = serde_json::from_slice(
        &maze(&root).args(["routes", "--json", "-g", "room:"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
}

#[test]
fn cli_manners() {
    let (_dir, root) = new_app();
    let quiet = maze(&root).args(["-q", "g", "socket", "Chat"]).output().unwrap();
    assert!(quiet.status.success());
    assert_eq!(stdout(&quiet), "", "--quiet prints nothing on success");
    let colour = maze(&root).args(["--color", "always", "g", "socket", "Chat"]).output().unwrap();
    assert!(stdout(&colour).contains("\u{1b}["), "--color always colours even when piped");
    let plain = maze(&root).args(["g", "socket", "Chat"]).output().unwrap();
    assert!(!stdout(&plain).contains("\u{1b}["), "NO_COLOR and pipes are plain");

    let completions = maze(&root).args(["completions", "bash"]).output().unwrap();
    assert!(stdout(&completions).contains("maze") && stdout(&completions).contains("complete"));
    let usage = maze(&root).args(["g", "socket"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");
    let help = stdout(&maze(&root).args(["g", "socket", "--help"]).output().unwrap());
    assert!(help.contains("Examples:"), "{help}");
}

/// Runs `maze ARGS` in `dir` on a pseudo-terminal (util-linux `script`),
/// typing each of `keys` once the terminal shows the conflict prompt for it;
/// returns what the terminal showed.
fn on_a_terminal(dir: &std::path::Path, args: &str, keys: &[char]) -> String {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let maze = env!("CARGO_BIN_EXE_maze");
    let mut child = Command::new("script")
        .args(["-qec", &format!("{maze} --color never {args}"), "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs maze on a pseudo-terminal");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (chunks, screen_updates) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(read @ 1..) = stdout.read(&mut buffer) {
            if chunks.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    for (typed, key) in keys.iter().enumerate() {
        let prompts = |screen: &[u8]| String::from_utf8_lossy(screen).matches("[d]iff: ").count();
        while prompts(&screen) <= typed {
            let chunk =
                screen_updates.recv_timeout(std::time::Duration::from_secs(30)).unwrap_or_else(|_| {
                    panic!("no prompt for key {key:?}; the screen: {}", String::from_utf8_lossy(&screen))
                });
            screen.extend(chunk);
        }
        write!(stdin, "{key}").unwrap();
        stdin.flush().unwrap();
    }
    drop(stdin);
    screen.extend(screen_updates.iter().flatten());
    reader.join().unwrap();
    child.wait().unwrap();
    String::from_utf8_lossy(&screen).replace('\r', "")
}

#[test]
fn on_a_terminal_a_conflict_is_asked_about_with_the_diff_on_request() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "Chat"]).assert().success();
    let socket = root.join("src/sockets/chat_socket.rs");
    let edited = std::fs::read_to_string(&socket).unwrap().replace("        true\n", "        false\n");
    std::fs::write(&socket, &edited).unwrap();

    let screen = on_a_terminal(&root, "g socket Chat", &['d', 'n']);
    assert!(screen.contains("Overwrite? [y]es, [n]o, [a]ll, [q]uit, [d]iff"), "{screen}");
    assert!(screen.contains("-        false") && screen.contains("+        true"), "the diff: {screen}");
    assert!(screen.contains("skip src/sockets/chat_socket.rs"), "{screen}");
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), edited, "n keeps the file");

    let screen = on_a_terminal(&root, "g socket Chat", &['y']);
    assert!(screen.contains("force src/sockets/chat_socket.rs"), "{screen}");
    assert!(std::fs::read_to_string(&socket).unwrap().contains("        true\n"), "y overwrites");
}
