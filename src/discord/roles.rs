//! The guild role lookup `/reward add` checks the hierarchy with, over Discord's REST API: the
//! guild's roles (`GET /guilds/{id}/roles`) and the bot's own member (`GET /guilds/{id}/members/{bot}`,
//! the bot's id read once from `GET /users/@me`). Installed in `App` by `rally run` and `rally serve`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serenity::http::Http;
use serenity::model::id::{GuildId, UserId};

use crate::app::rewards::{GuildRoles, RoleDirectory, RoleInfo};

/// [`RoleDirectory`] over serenity's REST client.
pub struct RestRoles {
    http: Arc<Http>,
    bot: Mutex<Option<u64>>,
}

impl RestRoles {
    /// A lookup over `http` (the bot's REST client); the bot's id is read on first use.
    pub fn new(http: Arc<Http>) -> RestRoles {
        RestRoles { http, bot: Mutex::new(None) }
    }

    async fn bot_id(&self) -> serenity::Result<u64> {
        if let Some(id) = *self.bot.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(id);
        }
        let id = self.http.get_current_user().await?.id.get();
        *self.bot.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
        Ok(id)
    }

    async fn lookup(&self, guild: u64) -> serenity::Result<GuildRoles> {
        let guild = GuildId::new(guild.max(1));
        let bot = self.bot_id().await?;
        let roles = self.http.get_guild_roles(guild).await?;
        let member = self.http.get_member(guild, UserId::new(bot.max(1))).await?;
        Ok(GuildRoles {
            roles: roles
                .into_iter()
                .map(|r| RoleInfo { id: r.id.get(), name: r.name, position: i64::from(r.position), managed: r.managed })
                .collect(),
            bot_roles: member.roles.iter().map(|r| r.get()).collect(),
        })
    }
}

impl RoleDirectory for RestRoles {
    fn guild_roles<'a>(&'a self, guild: u64) -> Pin<Box<dyn Future<Output = Result<GuildRoles, String>> + Send + 'a>> {
        Box::pin(async move { self.lookup(guild).await.map_err(|e| e.to_string()) })
    }
}
