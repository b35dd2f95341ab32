//! Who is in the embedded directory: a realistic demo on first start, or a generated crowd for
//! load work.

use data_encoding::BASE32_NOPAD;
use keydesk_api::{Role, UserState, UserType};
use sha2::{Digest, Sha256};

/// A user to insert. IDs are derived from the email so the demo is the same on every machine.
pub struct NewUser {
    pub display_name: String,
    pub email: String,
    pub state: UserState,
    pub user_type: UserType,
    pub role: Role,
    pub create_time: String,
}

/// A stable 26-character base32 ID for an email.
pub fn id_for(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    BASE32_NOPAD.encode(&digest)[..26].to_owned()
}

use Role::{Administrator as Admin, Member as M, Owner};
use UserState::*;
use UserType::{Guest, Member, ServiceAccount};

/// About sixty people in every state, two owners, names in several scripts, and one display name
/// that is an HTML injection attempt (it must only ever show as text).
#[rustfmt::skip]
const DEMO: &[(&str, &str, UserState, UserType, Role)] = &[
    ("Wendy Appleseed", "wendy.appleseed@example.com", Active, Member, Owner),
    ("Nikolai Ødegård", "nikolai.odegard@example.com", Active, Member, Owner),
    ("Amara Okafor", "amara.okafor@example.com", Active, Member, Admin),
    ("José Álvarez", "jose.alvarez@example.com", Active, Member, Admin),
    ("Zoë Lefèvre", "zoe.lefevre@example.com", Active, Member, M),
    ("山田 太郎", "taro.yamada@example.com", Active, Member, M),
    ("Ελένη Παπαδοπούλου", "eleni.papadopoulou@example.com", Active, Member, M),
    ("Дмитрий Иванов", "dmitri.ivanov@example.com", Suspended, Member, M),
    ("محمد الأحمد", "mohammed.alahmad@example.com", Active, Member, M),
    ("김민준", "minjun.kim@example.com", Active, Member, M),
    ("<img src=x onerror=alert('pwned')>", "html.injection@example.com", Active, Guest, M),
    ("Søren Kierkegaard", "soren.kierkegaard@example.com", Active, Member, M),
    ("Chloé Dubois", "chloe.dubois@example.com", Suspended, Member, M),
    ("Björn Svensson", "bjorn.svensson@example.com", Active, Member, M),
    ("Ana Luísa Gonçalves", "ana.goncalves@example.com", RecoveryStarted, Member, M),
    ("Priya Raghunathan", "priya.raghunathan@example.com", Active, Member, M),
    ("François Martin", "francois.martin@example.com", Active, Member, M),
    ("Łukasz Wiśniewski", "lukasz.wisniewski@example.com", RecoveryAccepted, Member, M),
    ("Ngozi Adeyemi", "ngozi.adeyemi@example.com", Active, Member, M),
    ("Mateo Rossi", "mateo.rossi@example.com", Active, Member, M),
    ("Hannah Müller", "hannah.muller@example.com", Suspended, Member, M),
    ("Oliver Smith", "oliver.smith@example.com", Active, Member, M),
    ("Isabella García", "isabella.garcia@example.com", Active, Member, M),
    ("Liam O'Connor", "liam.oconnor@example.com", Pending, Member, M),
    ("Sofía Hernández", "sofia.hernandez@example.com", Active, Member, M),
    ("Yusuf Demir", "yusuf.demir@example.com", TransferPending, Member, M),
    ("Emma Johansson", "emma.johansson@example.com", Active, Member, M),
    ("Noah Williams", "noah.williams@example.com", Active, Member, M),
    ("Ava Brown", "ava.brown@example.com", RecoveryStarted, Member, M),
    ("Lucas Silva", "lucas.silva@example.com", Active, Member, M),
    ("Mia Kowalski", "mia.kowalski@example.com", Suspended, Member, M),
    ("Ethan Davis", "ethan.davis@example.com", Active, Member, M),
    ("Charlotte Moreau", "charlotte.moreau@example.com", TransferStarted, Member, M),
    ("Aarav Sharma", "aarav.sharma@example.com", Active, Member, M),
    ("Fatima Zahra", "fatima.zahra@example.com", RecoveryAccepted, Member, M),
    ("Henrik Nieminen", "henrik.nieminen@example.com", Active, Member, Admin),
    ("Chen Wei 陈伟", "wei.chen@example.com", Active, Member, M),
    ("Olga Kuznetsova", "olga.kuznetsova@example.com", TransferSuspended, Member, M),
    ("Daniel Cohen", "daniel.cohen@example.com", Active, Member, M),
    ("Grace Wanjiru", "grace.wanjiru@example.com", Active, Member, M),
    ("Tomás Ó Briain", "tomas.obriain@example.com", Pending, Guest, M),
    ("Elif Yılmaz", "elif.yilmaz@example.com", Active, Member, M),
    ("Marta Nowak", "marta.nowak@example.com", Suspended, Member, M),
    ("Jonas Weber", "jonas.weber@example.com", TransferAccepted, Member, M),
    ("Nguyễn Thị Lan", "lan.nguyen@example.com", Active, Member, M),
    ("Rafael Costa", "rafael.costa@example.com", Active, Member, M),
    ("Sipho Dlamini", "sipho.dlamini@example.com", RecoveryAccepted, Member, M),
    ("Ingrid Hansen", "ingrid.hansen@example.com", Active, Member, M),
    ("Kenji Watanabe", "kenji.watanabe@example.com", EmailVerifiedButRegistrationIncomplete, Member, M),
    ("Leila Haddad", "leila.haddad@example.com", Active, Member, M),
    ("Pedro Santos", "pedro.santos@example.com", RecoveryStarted, Member, M),
    ("Aoife Murphy", "aoife.murphy@example.com", Active, Guest, M),
    ("Viktor Horváth", "viktor.horvath@example.com", Suspended, Member, M),
    ("Camille Laurent", "camille.laurent@example.com", Active, Member, M),
    ("Rohan Mehta", "rohan.mehta@example.com", Pending, Member, M),
    ("Build Bot", "build-bot@example.com", Active, ServiceAccount, M),
    ("Backup Agent", "backup-agent@example.com", Suspended, ServiceAccount, M),
    ("Astrid Lindqvist", "astrid.lindqvist@example.com", Active, Member, M),
    ("Kwame Mensah", "kwame.mensah@example.com", Active, Member, M),
    ("Beatriz Fernández", "beatriz.fernandez@example.com", Active, Member, M),
    ("Ömer Çelik", "omer.celik@example.com", Active, Member, M),
    ("Lena Schmidt", "lena.schmidt@example.com", Active, Member, M),
];

/// The demo directory, with creation times spread over the last few years.
pub fn demo_users() -> Vec<NewUser> {
    DEMO.iter()
        .enumerate()
        .map(|(i, (name, email, state, user_type, role))| NewUser {
            display_name: (*name).to_owned(),
            email: (*email).to_owned(),
            state: state.clone(),
            user_type: user_type.clone(),
            role: role.clone(),
            create_time: spread_time(i as u32, DEMO.len() as u32),
        })
        .collect()
}

const FIRST: &[&str] = &[
    "Ada",
    "Ben",
    "Célia",
    "Dmitri",
    "Eun-ji",
    "Farah",
    "Gustav",
    "Hiro",
    "Inès",
    "Jamal",
    "Kai",
    "Leonor",
    "Malik",
    "Nadia",
    "Oskar",
    "Paloma",
    "Quentin",
    "Rania",
    "Stefan",
    "Thandiwe",
    "Ulla",
    "Valentín",
    "Wiktoria",
    "Xiomara",
    "Yara",
    "Zoltán",
];
const LAST: &[&str] = &[
    "Abara",
    "Bergström",
    "Castillo",
    "Dąbrowski",
    "Eriksen",
    "Fontaine",
    "Gómez",
    "Haddad",
    "Ibrahim",
    "Jensen",
    "Kaur",
    "Lindahl",
    "Moreno",
    "Novák",
    "Okoye",
    "Petrov",
    "Quispe",
    "Rahman",
    "Søndergaard",
    "Tanaka",
    "Ueda",
    "Vasquez",
    "Wójcik",
    "Xu",
    "Yıldız",
    "Zhou",
];

/// `count` synthetic people for load work: mostly ACTIVE, every tenth SUSPENDED, a few in the
/// other states, the first two owners. Deterministic, so runs compare.
pub fn generated_users(count: u32) -> Vec<NewUser> {
    (0..count)
        .map(|i| {
            let first = FIRST[(i as usize) % FIRST.len()];
            let last = LAST[(i as usize / FIRST.len()) % LAST.len()];
            let state = match i % 50 {
                _ if i < 2 => Active,
                0 | 10 | 20 | 30 | 40 => Suspended,
                7 => RecoveryStarted,
                17 => RecoveryAccepted,
                27 => Pending,
                37 => TransferPending,
                _ => Active,
            };
            NewUser {
                display_name: format!("{first} {last} {i}"),
                email: format!(
                    "{}.{}.{i}@example.com",
                    super::text::fold(first),
                    super::text::fold(last)
                ),
                state,
                user_type: if i % 97 == 3 { Guest } else { Member },
                role: if i < 2 { Owner } else { M },
                create_time: spread_time(i, count),
            }
        })
        .collect()
}

/// Times from 2019-01-01 on, one every few minutes, in order of `index`.
fn spread_time(index: u32, count: u32) -> String {
    const START: u64 = 1_546_300_800; // 2019-01-01T00:00:00Z
    const SPAN: u64 = 7 * 365 * 24 * 3600;
    let offset = SPAN * u64::from(index) / u64::from(count.max(1));
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(START + offset);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_has_every_state_that_matters_and_two_owners() {
        let users = demo_users();
        assert!((55..=70).contains(&users.len()));
        for state in [
            Active,
            Suspended,
            RecoveryStarted,
            RecoveryAccepted,
            Pending,
            TransferPending,
        ] {
            assert!(users.iter().any(|u| u.state == state), "no {state} user");
        }
        assert_eq!(users.iter().filter(|u| u.role == Owner).count(), 2);
    }

    #[test]
    fn ids_are_stable_base32() {
        let id = id_for("wendy.appleseed@example.com");
        assert!(keydesk_api::UserId::parse(&id).is_ok(), "{id}");
        assert_eq!(id, id_for("wendy.appleseed@example.com"));
    }

    #[test]
    fn generated_emails_are_unique() {
        let users = generated_users(2000);
        let emails: std::collections::HashSet<_> = users.iter().map(|u| &u.email).collect();
        assert_eq!(emails.len(), 2000);
    }
}
