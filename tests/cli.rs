//! The CLI as a user meets it: idempotent re-runs, dry runs, conflicts, bad
//! names, missing markers, `maze routes`.

mod common;

use common::{maze, new_app, stderr, stdout, temp_dir, tree};

#[test]
fn a_second_run_reports_identical_and_changes_nothing() {
    let (_dir, root) = new_app();
    let steps: [&[&str]; 3] = [
        &["g", "socket", "ChatSocket", "chat_room", "lobby"],
        &["g", "channel", "Presence", "--socket", "ChatSocket"],
        &["generate", "channel", "Orphan", "--topic", "orphan"],
    ];
    for step in steps {
        maze(&root).args(step).assert().success();
        let before = tree(&root);
        let output = maze(&root).args(step).output().unwrap();
        assert!(output.status.success(), "{step:?}: {}", stderr(&output));
        let out = stdout(&output);
        for line in out.lines().filter(|l| l.starts_with(' ')) {
            let status = line.split_whitespace().next().unwrap();
            assert!(["identical", "unchanged"].contains(&status), "{step:?} again: {line}");
        }
        assert!(out.contains("identical"), "{out}");
        assert_eq!(tree(&root), before, "{step:?} again must leave the tree byte-identical");
    }
}

#[test]
fn maze_new_twice_is_identical() {
    let (dir, root) = new_app();
    let before = tree(&root);
    let output = maze(dir.path()).args(["new", "chat"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("identical maze.toml"), "maze new keeps the app's secret on a re-run: {out}");
    assert!(!out.contains("create") && !out.contains("conflict"), "{out}");
    assert_eq!(tree(&root), before);
}

#[test]
fn every_spelling_of_a_socket_name_means_the_same_socket() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "ChatSocket"]).assert().success();
    assert!(root.join("src/sockets/chat_socket.rs").is_file());
    assert!(!root.join("src/channels/chat_channel.rs").exists(), "no channel named: none");
    let before = tree(&root);
    for spelling in ["Chat", "chat_socket", "chat"] {
        maze(&root).args(["g", "socket", spelling]).assert().success();
        assert_eq!(tree(&root), before, "{spelling}");
    }
    maze(&root).args(["g", "channel", "Chat"]).assert().success();
    let socket = std::fs::read_to_string(root.join("src/sockets/chat_socket.rs")).unwrap();
    assert!(socket.contains("pub struct ChatSocket {"));
    assert!(socket.contains(r#"channels.add::<crate::channels::ChatChannel>("chat:*");"#));
    assert!(!socket.contains("ChatSocketSocket"));
    let routes = std::fs::read_to_string(root.join("src/routes.rs")).unwrap();
    assert!(routes.contains(r#"routes.socket::<crate::sockets::ChatSocket>("/chat");"#));
}

#[test]
fn path_flag_and_acronyms() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "HTTPSocket", "--path", "/live/http"]).assert().success();
    assert!(root.join("src/sockets/http_socket.rs").is_file());
    let routes = std::fs::read_to_string(root.join("src/routes.rs")).unwrap();
    assert!(routes.contains(r#"routes.socket::<crate::sockets::HttpSocket>("/live/http");"#), "{routes}");
}

#[test]
fn dry_run_writes_nothing() {
    let dir = temp_dir();
    let output = maze(dir.path()).args(["new", "chat", "--dry-run"]).output().unwrap();
    assert!(output.status.success());
    assert!(stdout(&output).contains("create src/main.rs"));
    assert!(!dir.path().join("chat").exists());

    let (_dir, root) = new_app();
    let before = tree(&root);
    let output = maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "--pretend"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("create src/sockets/chat_socket.rs"), "{out}");
    assert!(out.contains("insert src/routes.rs"), "{out}");
    assert!(out.contains("update Cargo.toml"), "{out}");
    assert!(out.contains("dry run: nothing was written"), "{out}");
    assert_eq!(tree(&root), before);
}

#[test]
fn a_conflict_aborts_with_the_tree_unchanged_until_force_or_skip() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
    let channel = root.join("src/channels/chat_room_channel.rs");
    let edited = std::fs::read_to_string(&channel)
        .unwrap()
        .replace("ctx.broadcast(&message.subject, payload);", "ctx.push(\"echo\", payload);");
    std::fs::write(&channel, &edited).unwrap();
    let before = tree(&root);

    let output = maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "lobby"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("conflict src/channels/chat_room_channel.rs"), "{}", stdout(&output));
    let error = stderr(&output);
    assert!(
        error.contains("Nothing was written") && error.contains("--force") && error.contains("--skip"),
        "{error}"
    );
    assert_eq!(tree(&root), before, "nothing written: not even the lobby files");

    let output =
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "lobby", "--skip"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("skip src/channels/chat_room_channel.rs"));
    assert_eq!(std::fs::read_to_string(&channel).unwrap(), edited, "--skip keeps the user's file");
    assert!(root.join("src/channels/lobby_channel.rs").is_file());

    let output = maze(&root).args(["g", "channel", "chat_room", "--force"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("force src/channels/chat_room_channel.rs"));
    assert!(std::fs::read_to_string(&channel).unwrap().contains("ctx.broadcast(&message.subject, payload);"));
}

#[test]
fn bad_names_are_refused_with_a_reason_and_nothing_written() {
    let (_dir, root) = new_app();
    let before = tree(&root);
    let reasons = [
        ("", "name is empty: give one"),
        ("1Chat", "cannot start with a digit"),
        ("../x", "cannot contain path separators or `..`"),
        ("Chat/Room", "cannot contain path separators or `..`"),
        ("self", "`self` is a Rust keyword"),
        ("fn", "`fn` is a Rust keyword"),
        ("Chat Room", "' ' cannot be part of a Rust identifier"),
        ("Ünï", "'Ü' is not ASCII"),
        ("Channel", "is only the suffix: name the channel"),
    ];
    for (name, reason) in reasons {
        // A channel's name, alone or among a socket's.
        for command in [&["g", "socket", "Chat"][..], &["g", "channel"][..]] {
            let output = maze(&root).args(command).arg(name).output().unwrap();
            assert_eq!(output.status.code(), Some(1), "{command:?} {name:?}");
            let error = stderr(&output);
            assert!(
                error.starts_with("error: ") && error.contains(reason),
                "{name:?}: {reason:?} in {error}"
            );
            assert_eq!(tree(&root), before, "{command:?} {name:?} wrote something");
        }
    }
    for (flag, value) in [("--path", "chat"), ("--path", "/a b")] {
        let output = maze(&root).args(["g", "socket", "Chat", flag, value]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{flag} {value}");
    }
    let output = maze(&root).args(["g", "channel", "Lobby", "--topic", "a*b*"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let output = maze(&root).args(["g", "socket", "1Chat"]).output().unwrap();
    assert!(stderr(&output).contains(r#""1Chat" is not a socket name"#), "{}", stderr(&output));
    let output = maze(&root).args(["g", "socket", "Socket"]).output().unwrap();
    assert!(stderr(&output).contains("is only the suffix: name the socket"), "{}", stderr(&output));
    let output = maze(&root).args(["g", "socket", "Chat", "room", "room"]).output().unwrap();
    assert!(stderr(&output).contains("named twice"));
    assert_eq!(tree(&root), before);

    let dir = temp_dir();
    for name in ["", "../evil", "fn", "1app"] {
        let output = maze(dir.path()).args(["new", name]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "new {name:?}");
    }
    let output = maze(dir.path()).args(["new", "my app"]).output().unwrap();
    assert!(stderr(&output).contains(r#""my app" is not an app name: ' '"#), "{}", stderr(&output));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_marker_is_an_error_with_the_line_to_add_by_hand() {
    let (_dir, root) = new_app();
    let routes = root.join("src/routes.rs");
    let text = std::fs::read_to_string(&routes).unwrap();
    for broken in [
        text.replace("    // maze:sockets\n", ""),
        text.replace("    // maze:sockets\n", "    /*\n    // maze:sockets\n    */\n"),
    ] {
        std::fs::write(&routes, &broken).unwrap();
        let before = tree(&root);
        let output = maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        let error = stderr(&output);
        assert!(error.contains("src/routes.rs"), "{error}");
        assert!(error.contains("// maze:sockets"), "{error}");
        assert!(error.contains(r#"routes.socket::<crate::sockets::ChatSocket>("/chat");"#), "{error}");
        assert_eq!(tree(&root), before, "nothing written");
    }
}

#[test]
fn outside_an_app_the_error_says_what_to_do() {
    let dir = temp_dir();
    for args in [&["g", "socket", "Chat"][..], &["routes"][..]] {
        let output = maze(dir.path()).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(stderr(&output).contains("maze new"), "{}", stderr(&output));
    }
}

#[test]
fn commands_work_from_a_subfolder_and_with_dash_c() {
    let (dir, root) = new_app();
    maze(&root.join("src/sockets")).args(["g", "socket", "Chat"]).assert().success();
    assert!(root.join("src/sockets/chat_socket.rs").is_file());
    let output = maze(dir.path()).args(["-C", "chat", "routes"]).output().unwrap();
    assert!(stdout(&output).contains("/chat"));
}

#[test]
fn channels_attach_to_the_only_socket_or_the_named_one() {
    let (_dir, root) = new_app();
    let output = maze(&root).args(["g", "channel", "Lobby"]).output().unwrap();
    assert!(output.status.success());
    assert!(
        stdout(&output).contains(r#"channels.add::<crate::channels::LobbyChannel>("lobby:*");"#),
        "says how to attach by hand"
    );

    maze(&root).args(["g", "socket", "Chat", "room"]).assert().success();
    maze(&root).args(["g", "channel", "Typing"]).assert().success();
    let socket = std::fs::read_to_string(root.join("src/sockets/chat_socket.rs")).unwrap();
    assert!(socket.contains("TypingChannel"), "attached to the only socket");

    maze(&root).args(["g", "socket", "Admin", "alerts"]).assert().success();
    let output = maze(&root).args(["g", "channel", "Audit"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--socket"));
    let output = maze(&root).args(["g", "channel", "Audit", "--socket", "Nope"]).output().unwrap();
    assert!(stderr(&output).contains("no socket NopeSocket"), "{}", stderr(&output));
    maze(&root).args(["g", "channel", "Audit", "--socket", "AdminSocket"]).assert().success();
    let admin = std::fs::read_to_string(root.join("src/sockets/admin_socket.rs")).unwrap();
    assert!(admin.contains("AuditChannel"));
}

#[test]
fn routes_lists_sockets_with_their_topics_and_skips_comments() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "lobby"]).assert().success();
    let routes = root.join("src/routes.rs");
    let text = std::fs::read_to_string(&routes).unwrap().replace(
        "    // maze:routes\n",
        "    // routes.get(\"/old\", controllers::home::index);\n    /* routes.get(\"/older\", controllers::home::index); */\n    routes\n        .get(\"/split\", controllers::home::index);\n    // maze:routes\n",
    );
    std::fs::write(&routes, text).unwrap();

    let output = maze(&root).arg("routes").output().unwrap();
    let table = stdout(&output);
    assert!(table.contains("GET    /split"), "{table}");
    assert!(!table.contains("/old"), "{table}");
    let socket_row = table.lines().find(|l| l.starts_with("WS")).unwrap();
    assert_eq!(
        socket_row.split_whitespace().collect::<Vec<_>>(),
        ["WS", "/chat", "sockets::chat_socket::ChatSocket"]
    );
    assert!(table.contains("chat_room:*  channels::chat_room_channel::ChatRoomChannel"), "{table}");

    let output = maze(&root).args(["routes", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"verb": "GET", "path": "/", "handler": "controllers::home::index"},
            {"verb": "GET", "path": "/split", "handler": "controllers::home::index"},
            {"verb": "WS", "path": "/chat", "handler": "sockets::chat_socket::ChatSocket", "channels": [
                {"topic": "chat_room:*", "channel": "channels::chat_room_channel::ChatRoomChannel"},
                {"topic": "lobby:*", "channel": "channels::lobby_channel::LobbyChannel"},
            ]},
        ])
    );
}

#[test]
fn skip_keeps_the_users_file_but_still_inserts_the_new_lines() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
    let socket = root.join("src/sockets/chat_socket.rs");
    let edited = std::fs::read_to_string(&socket).unwrap().replace("        true\n", "        false\n");
    std::fs::write(&socket, &edited).unwrap();

    let output =
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "lobby", "--skip"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("skip src/sockets/chat_socket.rs") && out.contains("insert src/sockets/chat_socket.rs"),
        "{out}"
    );
    let kept = std::fs::read_to_string(&socket).unwrap();
    assert!(kept.contains("        false\n"), "the user's edit stays");
    assert!(
        kept.contains(r#"channels.add::<crate::channels::LobbyChannel>("lobby:*");"#),
        "the new channel is wired: {kept}"
    );

    // A kept file without the marker: the error names the line to add; nothing is written.
    std::fs::write(&socket, edited.replace("        // maze:channels\n", "")).unwrap();
    let before = tree(&root);
    let output =
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "typing", "--skip"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(r#"channels.add::<crate::channels::TypingChannel>("typing:*");"#),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree(&root), before);
}

#[test]
fn a_path_already_routed_is_refused_with_the_clashing_route_and_nothing_written() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "Chat"]).assert().success();
    let before = tree(&root);
    for (args, clash) in [
        (vec!["g", "socket", "Room", "--path", "/chat"], "`WS /chat` (sockets::chat_socket::ChatSocket)"),
        (vec!["g", "socket", "Root", "--path", "/"], "`GET /` (controllers::home::index)"),
        (vec!["g", "controller", "Chat", "index"], "`WS /chat` (sockets::chat_socket::ChatSocket)"),
    ] {
        let output = maze(&root).args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let error = stderr(&output);
        assert!(error.contains("is already routed") && error.contains(clash), "{args:?}: {error}");
        assert_eq!(tree(&root), before, "{args:?}: nothing written");
    }
    // The same command again is not a clash.
    maze(&root).args(["g", "socket", "Chat"]).assert().success();
    assert_eq!(tree(&root), before);
}

#[test]
fn a_channel_its_socket_would_never_reach_is_refused_with_nothing_written() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "AuctionSocket", "auction"]).assert().success();
    let before = tree(&root);
    for topic in ["auction:*", "auction:7"] {
        let output = maze(&root).args(["g", "channel", "Bid", "--topic", topic]).output().unwrap();
        assert!(!output.status.success(), "{topic}: {}", stdout(&output));
        let error = stderr(&output);
        assert!(
            error.contains("already routed to channels::AuctionChannel by \"auction:*\"")
                && error.contains("BidChannel would never be reached. Nothing was written"),
            "{topic}: {error}"
        );
        assert_eq!(tree(&root), before, "{topic}: nothing written");
    }
    // A topic of its own is fine; so is generating the same channel again.
    maze(&root).args(["g", "channel", "Bid", "--topic", "bids:*"]).assert().success();
    maze(&root).args(["g", "channel", "Auction", "--socket", "AuctionSocket"]).assert().success();
}

#[test]
fn an_existing_action_and_an_overlong_name_are_refused_plainly() {
    let (_dir, root) = new_app();
    let before = tree(&root);
    // The home page's `index` is not what maze would generate: a conflict, nothing written.
    let output = maze(&root).args(["g", "controller", "home", "about", "index"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("src/controllers/home.rs already defines `index`, otherwise than maze")
            && stderr(&output).contains("--skip to keep yours"),
        "{}",
        stderr(&output)
    );
    assert_eq!(tree(&root), before);
    let long = "a".repeat(300);
    let output = maze(&root).args(["g", "socket", &long]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("names are at most 64"), "{}", stderr(&output));
    assert_eq!(tree(&root), before);
}

#[test]
fn the_runtime_dependency_names_a_version_and_doctor_repoints_a_moved_one() {
    let (_dir, root) = new_app();
    let runtime = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime");
    let manifest = root.join("Cargo.toml");
    let cargo_toml = std::fs::read_to_string(&manifest).unwrap();
    let expected = format!("maze = {{ version = \"0.1.0\", path = {:?} }}", runtime.display().to_string());
    assert!(cargo_toml.contains(&expected), "{cargo_toml}");
    maze(&root).args(["g", "socket", "Chat"]).assert().success();
    assert!(stdout(&maze(&root).arg("doctor").output().unwrap()).contains("resolves"));

    // The runtime moved: doctor names the broken path and the command that fixes it.
    let moved =
        std::fs::read_to_string(&manifest).unwrap().replace(&runtime.display().to_string(), "/moved/runtime");
    std::fs::write(&manifest, &moved).unwrap();
    let broken = maze(&root).arg("doctor").output().unwrap();
    assert_eq!(broken.status.code(), Some(1));
    let error = stderr(&broken);
    assert!(error.contains("path /moved/runtime does not exist"), "{error}");
    assert!(error.contains("maze doctor --maze-path DIR"), "{error}");

    let fixed = maze(&root).args(["doctor", "--maze-path"]).arg(&runtime).output().unwrap();
    assert!(fixed.status.success(), "{}", stderr(&fixed));
    let repointed = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(repointed, moved.replace("/moved/runtime", &runtime.display().to_string()), "features kept");
}

#[test]
fn new_with_a_maze_version_depends_on_the_registry_and_says_nothing_of_paths() {
    let dir = temp_dir();
    let output = maze(dir.path()).args(["new", "chat", "--maze-version", "0.1"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).contains("absolute path"));
    let cargo_toml = std::fs::read_to_string(dir.path().join("chat/Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("maze = { version = \"0.1\" }\n"), "{cargo_toml}");

    let path_app = maze(dir.path()).args(["new", "other"]).output().unwrap();
    assert!(stdout(&path_app).contains("depends on the maze runtime by its absolute path"));
    let bad = maze(dir.path()).args(["new", "bad", "--maze-version", "latest please"]).output().unwrap();
    assert!(stderr(&bad).contains("is not a version of the maze crate"), "{}", stderr(&bad));
    assert!(!dir.path().join("bad").exists());
}
