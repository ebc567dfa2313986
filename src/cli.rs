//! The command line: `serve` (the default), `content check|plan|apply|import`, and admin helpers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::content::{self, parse_dir};

#[derive(Parser, Debug)]
#[command(
    name = "pathway",
    version,
    about = "Pathway: a self-hosted learning-path tracker"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web app (the default when no command is given).
    Serve,
    /// Work with the markdown content files.
    Content {
        #[command(subcommand)]
        action: ContentCommand,
    },
    /// Seed demo accounts: a mentor and three learners with progress, reviews and comments, and a cohort of a dozen learners with a tailored roadmap and target dates.
    Demo,
    /// Administrator accounts.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Mentor links, for administrators.
    Mentor {
        #[command(subcommand)]
        action: MentorCommand,
    },
    /// Registration invites, for --registration invite-only.
    Invite {
        #[command(subcommand)]
        action: InviteCommand,
    },
    /// Write the whole database to FILE (pg_dump's custom format); safe while the server runs.
    Backup { file: PathBuf },
    /// Replace the database's contents with a backup made by `pathway backup`. Stop the server first.
    Restore { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an admin account. Asks for the password, or reads it from standard input.
    Create { username: String },
}

#[derive(Subcommand, Debug)]
pub enum MentorCommand {
    /// Make MENTOR a mentor of MENTEE on all of the mentee's roadmaps, without an invitation.
    Link { mentor: String, mentee: String },
}

#[derive(Subcommand, Debug)]
pub enum InviteCommand {
    /// Create a single-use sign-up link and print it.
    Create {
        /// Days until the link expires.
        #[arg(long, default_value_t = 7)]
        days: i32,
    },
}

#[derive(Subcommand, Debug)]
pub enum ContentCommand {
    /// Validate a content directory without touching any database; exits non-zero on any error.
    Check {
        /// The content directory (defaults to --content-dir).
        dir: Option<PathBuf>,
        /// Add missing stage and skill ids, derived from their titles, in place.
        #[arg(long)]
        fix: bool,
        /// Treat warnings (HTML the sanitizer removes, images without alt text, in-page
        /// links to nothing…) as errors: exit non-zero if there are any.
        #[arg(long)]
        strict: bool,
    },
    /// Show what loading the content would change in the database (a dry run):
    /// skills added, updated, moved, renamed and retired, with learner counts.
    Plan {
        /// The content directory (defaults to --content-dir).
        dir: Option<PathBuf>,
    },
    /// Load the content into the database now. Refuses a change that would
    /// retire skills with learner progress unless --allow-retire is given.
    Apply {
        /// The content directory (defaults to --content-dir).
        dir: Option<PathBuf>,
        /// Apply even when skills with learner progress would be retired.
        #[arg(long)]
        allow_retire: bool,
    },
    /// Convert a folder of markdown lessons (folders become stages, files skills) into
    /// roadmap folder DEST, then check it. See docs/import.md.
    Import {
        /// The lessons: one roadmap, or with --roadmaps one folder per roadmap.
        src: PathBuf,
        /// The roadmap folder to write (its name is the roadmap id), or with --roadmaps the content directory.
        dest: PathBuf,
        /// SRC holds several roadmaps, one folder each; DEST is the content directory.
        #[arg(long)]
        roadmaps: bool,
        /// Write over a DEST that is not an earlier import of the same SRC.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    // Before any content is read: the embed hosts decide what HTML it renders to.
    content::render::configure(cli.config.render_options());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            init_logging(&cli.config.log, cli.config.log_format);
            match crate::app::run_server(cli.config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error:#}");
                    eprintln!("pathway: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Content {
            action: ContentCommand::Check { dir, fix, strict },
        } => content_check(&dir.unwrap_or(cli.config.content_dir), fix, strict),
        Command::Content {
            action: ContentCommand::Plan { dir },
        } => {
            init_logging("warn", cli.config.log_format);
            let dir = dir.unwrap_or(cli.config.content_dir.clone());
            report(content_plan(&cli.config, &dir, None).await)
        }
        Command::Content {
            action: ContentCommand::Apply { dir, allow_retire },
        } => {
            init_logging("warn", cli.config.log_format);
            let dir = dir.unwrap_or(cli.config.content_dir.clone());
            report(content_plan(&cli.config, &dir, Some(allow_retire)).await)
        }
        Command::Content {
            action:
                ContentCommand::Import {
                    src,
                    dest,
                    roadmaps,
                    force,
                },
        } => content::import::command(&content::import::Request {
            src,
            dest,
            roadmaps,
            force,
        }),
        Command::Admin {
            action: AdminCommand::Create { username },
        } => {
            init_logging("warn", cli.config.log_format);
            match create_admin(&cli.config, &username).await {
                Ok(base) => {
                    println!(
                        "admin {} created; sign in at {base}/signin",
                        username.trim().to_lowercase(),
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("pathway: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo => {
            init_logging("warn", cli.config.log_format);
            match seed_demo(&cli.config).await {
                Ok((accounts, base)) => {
                    println!("Demo data is ready. Sign in at {base}/signin with:");
                    println!("  mentor:   {} (leads the Backend cohort)", accounts.mentor);
                    println!("  learners: {}", accounts.learners.join(", "));
                    println!("  cohort mentors: {}", accounts.team_mentors.join(", "));
                    println!("  cohort learners: {}", accounts.cohort.join(", "));
                    println!("  password (all): {}", crate::demo::PASSWORD);
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("pathway: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Mentor {
            action: MentorCommand::Link { mentor, mentee },
        } => {
            init_logging("warn", cli.config.log_format);
            match link_mentor(&cli.config, &mentor, &mentee).await {
                Ok(()) => {
                    println!("{mentor} now mentors {mentee}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("pathway: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Backup { file } => {
            init_logging("warn", cli.config.log_format);
            match crate::backup::backup(&cli.config, &file).await {
                Ok(()) => {
                    println!("backed up to {}", file.display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("pathway: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Restore { file } => {
            init_logging("warn", cli.config.log_format);
            match crate::backup::restore(&cli.config, &file).await {
                Ok(()) => {
                    println!("restored from {}", file.display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("pathway: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Invite {
            action: InviteCommand::Create { days },
        } => {
            init_logging("warn", cli.config.log_format);
            match create_invite(&cli.config, days).await {
                Ok(link) => {
                    println!("{link}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("pathway: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Where links printed by a CLI command point: `--public-url` when given, else the
/// address of the server last started on this database (a CLI command does not know the
/// port a server runs on), else this command's own host and port.
async fn link_base(config: &crate::config::Config, db: &sqlx::PgPool) -> String {
    if config.public_url.is_some() {
        return config.public_url();
    }
    match crate::db::server_address::recorded(db).await {
        Ok(Some(url)) => url,
        _ => config.public_url(),
    }
}

/// `pathway admin create USERNAME`: the password comes from a hidden prompt, or from stdin when piped.
/// Returns where to sign in.
async fn create_admin(config: &crate::config::Config, username: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let username = username.trim().to_lowercase();
    if let Some(problem) = crate::auth::names::username_problem(&username) {
        anyhow::bail!("invalid username: {problem}");
    }
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if let Some(problem) = crate::auth::password::weakness(&password, &[&username]) {
        anyhow::bail!("{problem}");
    }
    let hash = crate::auth::password::hash(password).await?;
    let database = crate::db::Database::open(config).await?;
    let created = crate::db::admin::create_admin(&database.pool, &username, &hash).await;
    let base = link_base(config, &database.pool).await;
    database.close().await?;
    match created {
        Ok(_) => Ok(base),
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("users_username_key") => {
            anyhow::bail!("the username {username} is taken")
        }
        Err(error) => Err(error.into()),
    }
}

/// Prints a command's text, or its error, and picks the exit code.
fn report(result: anyhow::Result<(String, bool)>) -> ExitCode {
    match result {
        Ok((text, ok)) => {
            print!("{text}");
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("pathway: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `pathway content plan` (apply = None) and `pathway content apply`.
/// Returns the text to print and whether the command succeeded.
async fn content_plan(
    config: &crate::config::Config,
    dir: &std::path::Path,
    apply: Option<bool>,
) -> anyhow::Result<(String, bool)> {
    use crate::content::plan::Plan;
    use crate::content::sync::{self, Files, LoadOutcome, Policy, Trigger};
    const UNCHANGED: &str = "\nNothing to apply: the database already has these files.\n";
    // Reading and hashing the files overlaps connecting and migrating.
    let (database, read) = tokio::join!(crate::db::Database::open(config), sync::read(dir));
    let database = database?;
    let result = async {
        // Files that hash to the applied version are not parsed, planned or rendered.
        let content = match sync::parse_unless_live(&database.pool, dir, read?).await? {
            Files::Live(hash) => {
                let mut text = Plan {
                    content_hash: hash,
                    ..Plan::default()
                }
                .report();
                if apply.is_some() {
                    text.push_str(UNCHANGED);
                }
                return anyhow::Ok((text, true));
            }
            Files::Changed(content) => content,
            Files::Invalid(invalid) => {
                let mut text = String::new();
                for diagnostic in &invalid.diagnostics {
                    text.push_str(&format!("{diagnostic}\n"));
                }
                text.push_str(&format!(
                    "{} error(s); nothing can be loaded until they are fixed\n",
                    invalid.diagnostics.len()
                ));
                return Ok((text, false));
            }
        };
        let warnings = if content.warnings.is_empty() {
            String::new()
        } else {
            format!(
                "\nThe files have {} warning(s); `pathway content check` lists them.\n",
                content.warnings.len()
            )
        };
        let Some(allow_retire) = apply else {
            let plan = sync::plan(&database.pool, &content).await?;
            return anyhow::Ok((plan.report() + &warnings, true));
        };
        let policy = if allow_retire {
            Policy::Apply
        } else {
            Policy::HoldRetiringProgress
        };
        // The plan printed is the one applied, computed once, in the load's transaction.
        let (outcome, plan) = sync::apply_planned(&database.pool, &content, Trigger::Cli, policy).await?;
        let mut text = plan.unwrap_or_default().report() + &warnings;
        let ok = match outcome {
            LoadOutcome::Applied(_) => {
                text.push_str("\nApplied. Running servers pick it up within seconds.\n");
                true
            }
            LoadOutcome::Unchanged => {
                text.push_str(UNCHANGED);
                true
            }
            LoadOutcome::Held(_) => {
                text.push_str(
                    "\nNot applied: it would retire skills with learner progress. Review it at \
                     /admin/content, or run again with --allow-retire.\n",
                );
                false
            }
            LoadOutcome::Failed(_) => false,
        };
        anyhow::Ok((text, ok))
    }
    .await;
    database.close().await?;
    result
}

/// `pathway demo`: loads the content, then seeds the demo accounts.
async fn seed_demo(config: &crate::config::Config) -> anyhow::Result<(crate::demo::DemoAccounts, String)> {
    let database = crate::db::Database::open(config).await?;
    let result = async {
        crate::app::load_content(&database.pool, &config.content_dir).await?;
        let catalog = crate::content::Catalog::load(&database.pool).await?;
        let accounts = crate::demo::seed(&database.pool, &catalog).await?;
        Ok((accounts, link_base(config, &database.pool).await))
    }
    .await;
    database.close().await?;
    result
}

/// `pathway mentor link MENTOR MENTEE`.
async fn link_mentor(config: &crate::config::Config, mentor: &str, mentee: &str) -> anyhow::Result<()> {
    let database = crate::db::Database::open(config).await?;
    let result = async {
        let find = |name: &str| {
            let pool = database.pool.clone();
            let name = name.trim().to_lowercase();
            async move {
                crate::db::users::by_username(&pool, &name)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("there is no user named \"{name}\""))
            }
        };
        let (mentor, mentee) = (find(mentor).await?, find(mentee).await?);
        crate::db::mentorships::link(&database.pool, mentor.id, mentee.id)
            .await?
            .map_err(|refusal| anyhow::anyhow!(refusal.0))?;
        anyhow::Ok(())
    }
    .await;
    database.close().await?;
    result
}

/// `pathway invite create`: a registration link valid for `days`.
async fn create_invite(config: &crate::config::Config, days: i32) -> anyhow::Result<String> {
    anyhow::ensure!((1..=365).contains(&days), "--days must be between 1 and 365");
    let database = crate::db::Database::open(config).await?;
    let token = crate::auth::token::generate();
    let created = crate::db::users::create_registration_invite(
        &database.pool,
        &crate::auth::token::hash(&token),
        None,
        days,
        None,
    )
    .await;
    let base = link_base(config, &database.pool).await;
    database.close().await?;
    created?;
    Ok(format!("{base}/signup?invite={token}"))
}

/// Logs go to standard error: coloured only on a terminal, JSON lines when asked.
fn init_logging(filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// `pathway content check [DIR] [--fix] [--strict]`.
fn content_check(dir: &std::path::Path, fix: bool, strict: bool) -> ExitCode {
    if fix {
        match content::fix::add_missing_ids(dir) {
            Ok(fixes) => {
                for item in &fixes.added {
                    println!("{}:{}: added id \"{}\"", item.path.display(), item.line, item.id);
                }
                for note in &fixes.left {
                    println!("{note}");
                }
            }
            Err(error) => {
                eprintln!("{}: cannot fix: {error}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let plural = |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
    let print_warnings = |warnings: &[content::Diagnostic]| {
        for warning in warnings {
            eprintln!("{}", warning_line(warning));
        }
    };
    match parse_dir(dir) {
        Ok(content) => {
            print_warnings(&content.warnings);
            let warnings = content.warnings.len();
            if strict && warnings > 0 {
                eprintln!(
                    "{} in {} (--strict makes them errors)",
                    plural(warnings, "warning"),
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
            println!(
                "{}: OK, {} roadmaps, {} stages, {} skills{}",
                dir.display(),
                content.roadmaps.len(),
                content.stage_count(),
                content.skill_count(),
                if warnings > 0 {
                    format!(", {}", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        Err(invalid) => {
            let mut all: Vec<(&content::Diagnostic, bool)> = invalid
                .diagnostics
                .iter()
                .map(|d| (d, true))
                .chain(invalid.warnings.iter().map(|w| (w, false)))
                .collect();
            all.sort_by(|a, b| (&a.0.path, a.0.line).cmp(&(&b.0.path, b.0.line)));
            for (diagnostic, error) in all {
                if error {
                    eprintln!("{diagnostic}");
                } else {
                    eprintln!("{}", warning_line(diagnostic));
                }
            }
            let count = invalid.diagnostics.len();
            let warnings = if invalid.warnings.is_empty() {
                String::new()
            } else {
                format!(" and {}", plural(invalid.warnings.len(), "warning"))
            };
            eprintln!("{}{warnings} in {}", plural(count, "error"), dir.display());
            ExitCode::FAILURE
        }
    }
}

/// `path:line: warning: message`, so warnings read apart from errors.
fn warning_line(warning: &content::Diagnostic) -> String {
    let mut marked = warning.clone();
    marked.message = format!("warning: {}", warning.message);
    marked.to_string()
}
