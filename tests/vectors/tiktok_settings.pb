
@Aruka.Live