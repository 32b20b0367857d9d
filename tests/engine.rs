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
        &["resource", "Orders"],
        &["controller", "home", "about"],
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

    maze(&root).args(["g", "socket", "Chat", "chat"]).assert().success();
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
    let output = maze(&root).args(["g", "controller", "Posts", "index", "show", "me"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let routes = std::fs::read_to_string(root.join("src/routes.rs")).unwrap();
    assert!(routes.contains(r#"routes.get("/posts", controllers::posts::index);"#), "{routes}");
    assert!(routes.contains(r#"routes.get("/posts/{id}", controllers::posts::show);"#), "{routes}");
    assert!(routes.contains(r#"routes.get("/posts/me", controllers::posts::me);"#), "{routes}");
    let listed = stdout(&maze(&root).args(["routes", "-g", "posts"]).output().unwrap());
    assert_eq!(listed.lines().count(), 4, "header and three routes: {listed}");

    // The seven REST actions, with Rails' and Phoenix's verbs and paths.
    let output = maze(&root).args(["g", "resource", "Orders"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = stdout(&maze(&root).args(["routes", "-g", "orders"]).output().unwrap());
    let rows: Vec<Vec<&str>> = listed.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let expected = [
        ["GET", "/orders", "controllers::orders::index"],
        ["GET", "/orders/{id}", "controllers::orders::show"],
        ["GET", "/orders/new", "controllers::orders::new"],
        ["POST", "/orders", "controllers::orders::create"],
        ["GET", "/orders/{id}/edit", "controllers::orders::edit"],
        ["PUT", "/orders/{id}", "controllers::orders::update"],
        ["PATCH", "/orders/{id}", "controllers::orders::update"],
        ["DELETE", "/orders/{id}", "controllers::orders::destroy"],
    ];
    assert_eq!(rows, expected, "{listed}");
    let tests = std::fs::read_to_string(root.join("tests/orders_controller.rs")).unwrap();
    for test in
        ["get_show_answers_200", "post_create_answers_201", "put_update_answers_200", "delete_destroy"]
    {
        assert!(tests.contains(test), "{test}: {tests}");
    }
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

/// `maze g controller` on an existing controller adds the action (handler,
/// route, test) and keeps the user's edits; destroy takes out only that
/// action and keeps the module the others need.
#[test]
fn actions_are_added_to_an_edited_controller_and_destroy_keeps_what_others_need() {
    let (_dir, root) = new_app();
    let fresh = tree(&root);
    maze(&root).args(["g", "controller", "Session", "sign_in", "sign_out"]).assert().success();
    let controller = root.join("src/controllers/session.rs");
    let mine = "\n/// Mine.\npub fn helper() -> u8 {\n    1\n}\n";
    let edited = std::fs::read_to_string(&controller).unwrap() + mine;
    std::fs::write(&controller, &edited).unwrap();

    let output = maze(&root).args(["g", "controller", "Session", "me"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("insert src/controllers/session.rs")
            && out.contains("insert tests/session_controller.rs")
    );
    let source = std::fs::read_to_string(&controller).unwrap();
    assert!(source.contains("pub async fn me()") && source.contains("pub fn helper()"), "{source}");
    let routes = std::fs::read_to_string(root.join("src/routes.rs")).unwrap();
    assert!(routes.contains(r#"routes.get("/session/me", controllers::session::me);"#), "{routes}");
    assert!(
        std::fs::read_to_string(root.join("tests/session_controller.rs"))
            .unwrap()
            .contains("get_me_answers_200")
    );
    // Again: nothing changes.
    let before = tree(&root);
    maze(&root).args(["g", "controller", "Session", "me"]).assert().success();
    assert_eq!(tree(&root), before);

    // Destroying two of the three actions keeps the file, and its `pub mod`.
    let output = maze(&root).args(["d", "controller", "Session", "me", "sign_out"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let mods = std::fs::read_to_string(root.join("src/controllers/mod.rs")).unwrap();
    assert!(mods.contains("pub mod session;"), "sign_in still needs the module: {mods}");
    let source = std::fs::read_to_string(&controller).unwrap();
    assert!(source.contains("fn sign_in") && !source.contains("fn me") && !source.contains("fn sign_out"));

    // The last action goes: the file stays for the user's helper, and so does its module.
    maze(&root).args(["d", "controller", "Session", "sign_in"]).assert().success();
    assert!(
        std::fs::read_to_string(root.join("src/controllers/mod.rs")).unwrap().contains("pub mod session;")
    );
    assert!(!root.join("tests/session_controller.rs").exists(), "only its template was left");
    // With only a comment of the user's left, the last action's destroy is a
    // conflict: --skip keeps the file whole, --force removes it.
    maze(&root).args(["g", "controller", "Session", "index"]).assert().success();
    let source = std::fs::read_to_string(&controller).unwrap();
    std::fs::write(&controller, source.replace(mine, "// Mine.\n")).unwrap();
    let before = tree(&root);
    let output = maze(&root).args(["d", "controller", "Session", "index"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--force to remove them anyway"), "{}", stderr(&output));
    assert_eq!(tree(&root), before);
    maze(&root).args(["d", "controller", "Session", "index", "--skip"]).assert().success();
    assert_eq!(std::fs::read(&controller).unwrap(), before["src/controllers/session.rs"]);
    assert!(!std::fs::read_to_string(root.join("src/routes.rs")).unwrap().contains("session::index"));
    maze(&root).args(["g", "controller", "Session", "index"]).assert().success();
    maze(&root).args(["d", "controller", "Session", "index", "--force"]).assert().success();
    assert_eq!(tree(&root), fresh);
    maze(&root).args(["g", "controller", "Session", "index"]).assert().success();
    // Without the user's lines, the file and its module go: the app is as new.
    let source = std::fs::read_to_string(&controller).unwrap();
    std::fs::write(&controller, source.replace(mine, "")).unwrap();
    maze(&root).args(["d", "controller", "Session"]).arg("index").assert().success();
    assert_eq!(tree(&root), fresh);
}

/// An action the user rewrote is a conflict of its own: refused with nothing
/// written, kept with --skip (the route still goes to it); never clobbered.
#[test]
fn an_edited_action_is_a_conflict_per_action() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "controller", "Session", "sign_in"]).assert().success();
    let controller = root.join("src/controllers/session.rs");
    let source = std::fs::read_to_string(&controller).unwrap();
    std::fs::write(&controller, source.replace("<h1>session#sign_in</h1>", "<h1>Sign in</h1>")).unwrap();
    let before = tree(&root);

    for flags in [&[][..], &["--force"]] {
        let output =
            maze(&root).args(["g", "controller", "Session", "sign_in", "me"]).args(flags).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{flags:?}");
        let error = stderr(&output);
        assert!(error.contains("src/controllers/session.rs already defines `sign_in`"), "{error}");
        assert_eq!(tree(&root), before, "{flags:?}");
    }
    let output =
        maze(&root).args(["g", "controller", "Session", "sign_in", "me", "--skip"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let source = std::fs::read_to_string(&controller).unwrap();
    assert!(source.contains("<h1>Sign in</h1>") && source.contains("fn me()"), "{source}");

    // Destroying it: the same.
    let output = maze(&root).args(["d", "controller", "Session", "sign_in"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("defines `sign_in` otherwise than maze generated it"),
        "{}",
        stderr(&output)
    );
    let output = maze(&root).args(["d", "controller", "Session", "sign_in", "--skip"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let routes = std::fs::read_to_string(root.join("src/routes.rs")).unwrap();
    assert!(!routes.contains("session::sign_in") && routes.contains("session::me"), "{routes}");
    assert!(std::fs::read_to_string(&controller).unwrap().contains("<h1>Sign in</h1>"));
}

/// Destroy refuses, with nothing written, to remove what something left
/// behind still uses; `--skip` keeps an edited socket and the lines it needs.
#[test]
fn destroy_removes_only_what_nothing_else_needs() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "Chat", "room"]).assert().success();
    let before = tree(&root);
    let output = maze(&root).args(["d", "socket", "Chat"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("still uses")
            && error.contains("chat_socket")
            && error.contains("Nothing was written"),
        "{error}"
    );
    assert_eq!(tree(&root), before);

    // An edited socket kept with --skip keeps its `pub mod` and the shared settings.
    let socket = root.join("src/sockets/chat_socket.rs");
    let edited = std::fs::read_to_string(&socket).unwrap().replace("true\n", "true // mine\n");
    std::fs::write(&socket, &edited).unwrap();
    let output = maze(&root).args(["d", "socket", "Chat", "room"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("differ from what maze generated: src/sockets/chat_socket.rs")
            && stderr(&output).contains("--force to remove them anyway, or --skip to keep them"),
        "a destroy's words: {}",
        stderr(&output)
    );
    maze(&root).args(["d", "socket", "Chat", "room", "--skip"]).assert().success();
    // Kept as edited, less the line of the channel destroyed with it.
    let channel_line = "        channels.add::<crate::channels::RoomChannel>(\"room:*\");\n";
    assert!(edited.contains(channel_line));
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), edited.replace(channel_line, ""));
    assert!(
        std::fs::read_to_string(root.join("src/sockets/mod.rs")).unwrap().contains("pub mod chat_socket;")
    );
    assert!(std::fs::read_to_string(root.join("Cargo.toml")).unwrap().contains("\"websockets\""));
    assert!(std::fs::read_to_string(root.join("maze.toml")).unwrap().contains("[websockets]"));
    assert!(!root.join("src/channels/room_channel.rs").exists());
}

/// Next steps say what the app lacks, not what it has.
#[test]
fn next_steps_reflect_the_app() {
    let (dir, root) = new_app();
    let output = maze(&root).args(["g", "socket", "Chat"]).output().unwrap();
    assert!(stdout(&output).contains("with no channel yet. Next: `maze g channel Room --socket ChatSocket`"));
    let again = stdout(&maze(dir.path()).args(["new", "chat", "--skip"]).output().unwrap());
    assert!(again.contains("Next:") && !again.contains("maze g socket"), "{again}");
}

/// A channel written for one socket is not mapped by another, and one that
/// another socket maps is not rewritten for this one: either would not compile.
#[test]
fn a_channel_serves_the_sockets_it_was_written_for() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "Chat", "room"]).assert().success();
    let before = tree(&root);
    let output = maze(&root).args(["g", "socket", "Admin", "room"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("RoomChannel is a channel of ChatSocket"), "{}", stderr(&output));
    assert_eq!(tree(&root), before);

    // A channel for any socket, mapped by Chat as it is, then by Admin as it is.
    maze(&root).args(["g", "socket", "Admin"]).assert().success();
    maze(&root).args(["d", "socket", "Chat", "room"]).assert().success();
    maze(&root).args(["g", "channel", "Lobby", "--socket", "Admin"]).assert().success();
    let generic = root.join("src/channels/lobby_channel.rs");
    let source = std::fs::read_to_string(&generic).unwrap();
    let any_socket = source
        .replace("impl Channel<AdminSocket, AppState>", "impl<S: Socket<AppState>> Channel<S, AppState>");
    std::fs::write(&generic, any_socket).unwrap();
    maze(&root).args(["g", "socket", "Chat"]).assert().success();
    let before = tree(&root);
    for flags in [&[][..], &["--force"]] {
        let output =
            maze(&root).args(["g", "channel", "Lobby", "--socket", "Chat"]).args(flags).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{flags:?}");
        assert!(
            stderr(&output)
                .contains("LobbyChannel is mapped by another socket (src/sockets/admin_socket.rs)"),
            "{}",
            stderr(&output)
        );
        assert_eq!(tree(&root), before);
    }
    maze(&root).args(["g", "channel", "Lobby", "--socket", "Chat", "--skip"]).assert().success();
    let chat = std::fs::read_to_string(root.join("src/sockets/chat_socket.rs")).unwrap();
    assert!(chat.contains(r#"channels.add::<crate::channels::LobbyChannel>("lobby:*");"#), "{chat}");
}
